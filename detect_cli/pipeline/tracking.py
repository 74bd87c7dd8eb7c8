"""`--track`: a track id per box, from Ultralytics' ByteTrack or BoT-SORT, run on our own results.

Tracking is a stage on the result stream (after the model, before saving and the sinks). It adds
`Detections.track_id` and never changes a box: a box in no confirmed track (a new object's first
frame, a low-confidence box) gets -1 (null in the records). One tracker per sequence: a video
or stream, or the still images of one folder taken in name order (frames on disk). A resumed
video starts new tracks whose ids follow the largest id already written, so ids never repeat.

`--format mot` (outputs/mot.py) writes the tracks as MOTChallenge rows; `evaluate --tracks`
(evaluation/track_scores.py) scores such a file against ground truth.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.boxes import xyxy_to_cxcywh
from detect_cli.core.choices import TRACKERS
from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult, sequence_key
from detect_cli.pipeline.tile_merge import merge_detections

# Boxes overlapping more than this are one object to the tracker, whatever their classes (see
# `one_box_per_object`): on that clip it took BoT-SORT from IDF1 0.793 to 0.824 and ByteTrack from
# 0.775 to 0.811 (any threshold from 0.5 to 0.8 alike: the doubles are the same box). Occluding
# objects are labelled by their visible parts, which rarely overlap this much.
SAME_OBJECT_IOU = 0.7


class _Boxes:
    """The slice of Ultralytics' `Boxes` API its trackers read: conf, cls, xywh, masks, len."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        self.xywh = xyxy_to_cxcywh(xyxy)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


def make_tracker(name: str = "botsort", first_id: int = 1) -> Any:
    """A fresh Ultralytics tracker with its shipped settings (BoT-SORT without camera-motion
    compensation: the frames are not always a moving camera's, and it costs a flow per frame)."""
    if name not in TRACKERS:
        raise ConfigError(f"unknown tracker '{name}'", f"choose one of {', '.join(TRACKERS)}")
    from detect_cli.models.ultralytics_env import import_ultralytics

    ultralytics = import_ultralytics()
    try:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker
    except ImportError as exc:  # Ultralytics' matching needs `lap`, and may not install it here
        raise ConfigError(f"--track cannot load Ultralytics' trackers: {exc}", "pip install lap") from None
    from ultralytics.utils import YAML, IterableSimpleNamespace

    config = YAML.load(Path(ultralytics.__file__).parent / "cfg" / "trackers" / f"{name}.yaml")
    if name == "botsort":
        config["gmc_method"] = "none"
    tracker = (BOTSORT if name == "botsort" else BYTETracker)(IterableSimpleNamespace(**config))
    tracker._ids = iter(range(first_id, sys.maxsize))  # after the ids a resumed video already has
    return tracker


def assign_tracks(tracker: Any, detections: Detections, image: np.ndarray | None = None) -> np.ndarray:
    """Track ids for the boxes of the next frame (-1 where none)."""
    ids = np.full(len(detections), -1, np.int64)
    tracked = one_box_per_object(detections)
    picked = detections[tracked]
    tracks = tracker.update(_Boxes(picked.xyxy.astype(np.float64), picked.confidence, picked.class_id), image)
    if len(tracks):
        ids[tracked[tracks[:, -1].astype(np.int64)]] = tracks[:, 4].astype(np.int64)
    return ids


def one_box_per_object(detections: Detections, threshold: float = SAME_OBJECT_IOU) -> np.ndarray:
    """Indices of the boxes the tracker sees: of boxes on the same spot whatever their class, the most
    confident. An NMS-free head can score one place as two classes (YOLO26's end-to-end top-k picks
    anchor-class pairs); fed both, a tracker keeps two tracks on one object, and the object's id
    flickers between them. The other boxes stay in the results, in no track."""
    if len(detections) < 2:
        return np.arange(len(detections))
    anyclass = Detections(detections.xyxy, detections.confidence, np.zeros(len(detections), np.int64))
    _, leaders = merge_detections(anyclass, "nms", "iou", threshold)
    return np.sort(leaders)


def track_stream(
    results: Iterable[ImageResult], tracker: str = "botsort", first_ids: Mapping[int, int] | None = None
) -> Iterator[ImageResult]:
    """The results with `track_id` set; `first_ids` (input index -> first id) continues resumed videos."""
    current, state = None, None
    for result in results:
        if result.ok:
            key = sequence_key(result)
            if key != current:
                current = key
                state = make_tracker(tracker, (first_ids or {}).get(result.index, 1))
            ids = assign_tracks(state, result.detections, result.image)
            result = replace(result, detections=result.detections.with_tracks(ids))
        yield result
