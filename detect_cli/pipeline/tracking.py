"""`--track`: a track id per box, from Ultralytics' ByteTrack or BoT-SORT, run on our own results.

Tracking is a stage on the result stream (after the model, before saving and the sinks). It adds
`Detections.track_id` and never changes a box: a box in no confirmed track (a new object's first
frame, a low-confidence box) gets -1 (null in the records). One tracker per sequence: a video
or stream, or the still images of one folder taken in name order (frames on disk). A resumed
video starts new tracks whose ids follow the largest id already written, so ids never repeat.

`--format mot` writes MOTChallenge rows (`frame,id,x,y,w,h,conf,-1,-1,-1`, frame 1-based), one
sequence per file; `score_tracks` compares such a file with ground truth (motmetrics: IDF1, MOTA).
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import BOX_DECIMALS, CONF_DECIMALS, ImageResult
from detect_cli.outputs.sinks import Sink
from detect_cli.pipeline.tile_merge import merge_detections

# BoT-SORT is the default: on the 1,000-frame generated clip (benchmarks/bench_video.py) it scores IDF1 0.824
# with 21 ID switches against ByteTrack's 0.811 and 25, at the same cost (about 1 ms a frame).
TRACKERS = ("botsort", "bytetrack")
# Boxes overlapping more than this are one object to the tracker, whatever their classes (see
# `one_box_per_object`): on that clip it took BoT-SORT from IDF1 0.793 to 0.824 and ByteTrack from
# 0.775 to 0.811 (any threshold from 0.5 to 0.8 alike: the doubles are the same box). Occluding
# objects are labelled by their visible parts, which rarely overlap this much.
SAME_OBJECT_IOU = 0.7


class _Boxes:
    """The slice of Ultralytics' `Boxes` API its trackers read: conf, cls, xywh, masks, len."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)

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


def sequence_key(result: ImageResult) -> str:
    """A video's frames are one sequence; so are the stills of one folder (frames on disk)."""
    if result.frame is not None:
        return result.source
    return str(PurePosixPath(result.source.replace("\\", "/")).parent)


def track_stream(results: Iterable[ImageResult], tracker: str = "botsort",
                 first_ids: Mapping[int, int] | None = None) -> Iterator[ImageResult]:  # fmt: skip
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


class MotSink(Sink):
    """MOTChallenge rows for one sequence (a video, or a folder of frames): 1-based frame numbers
    (a video's own, so --vid-stride leaves gaps), then `id,x,y,w,h,conf,-1,-1,-1`; id -1 for boxes
    in no track (without --track: detections, as in MOT's det.txt)."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None) -> None:
        super().__init__(stream, meta)
        self._sequence: str | None = None
        self._position = 0

    def write(self, result: ImageResult) -> None:
        if not result.ok:
            return  # errors go to stderr and the summary; MOT files have no place for them
        key = sequence_key(result)
        if self._sequence is None:
            self._sequence = key
        elif key != self._sequence:
            raise ConfigError(f"--format mot holds one sequence, and {result.source} starts a second "
                              f"(after {self._sequence})", "run one video (or folder of frames) per MOT file, "
                              "or use --format jsonl")  # fmt: skip
        self._position += 1
        frame = result.frame + 1 if result.frame is not None else self._position
        self._put("".join(mot_rows(frame, result.detections)))


def mot_rows(frame: int, detections: Detections) -> list[str]:
    ids = detections.track_id if detections.track_id is not None else np.full(len(detections), -1)
    rows = []
    for (box, conf, _cls), track in zip(detections, ids.tolist()):
        x1, y1, x2, y2 = (round(float(v), BOX_DECIMALS) for v in box)
        rows.append(f"{frame},{track},{x1:g},{y1:g},{round(x2 - x1, 2):g},{round(y2 - y1, 2):g},"
                    f"{round(conf, CONF_DECIMALS):g},-1,-1,-1\n")  # fmt: skip
    return rows


def read_mot(source: Path | str) -> Any:
    """A MOT file (or MOT text) as motmetrics' DataFrame; ConfigError naming the file."""
    import motmetrics as mm

    what = source if isinstance(source, Path) else io.StringIO(source)
    try:
        with warnings.catch_warnings():  # motmetrics' reader uses pandas calls that pandas deprecates
            warnings.simplefilter("ignore")
            return mm.io.loadtxt(what, fmt="mot15-2D", min_confidence=-1)
    except (OSError, ValueError, IndexError) as exc:
        raise ConfigError(f"cannot read MOT file {source if isinstance(source, Path) else '(rows)'}: {exc}") from None


def score_tracks(truth: Path, predicted: Path | str, *, iou: float = 0.5,
                 frames: Iterable[int] | None = None) -> dict[str, float]:  # fmt: skip
    """IDF1, MOTA and friends of `predicted` (a MOT file, or MOT rows as text) against `truth`, boxes
    matching at IoU >= `iou`. `frames` (1-based) restricts the ground truth to the frames that were
    run (--vid-stride, a time range)."""
    import motmetrics as mm

    gt, hyp = read_mot(truth), read_mot(predicted)
    hyp = hyp[hyp.index.get_level_values("Id") >= 0]  # boxes in no track are not a tracker's output
    wanted = sorted(set(frames)) if frames is not None else sorted(set(gt.index.get_level_values("FrameId")))
    accumulator = mm.MOTAccumulator(auto_id=False)
    gt_by_frame, hyp_by_frame = _by_frame(gt), _by_frame(hyp)
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    for frame in wanted:
        (gt_ids, gt_boxes), (hyp_ids, hyp_boxes) = gt_by_frame.get(frame, empty), hyp_by_frame.get(frame, empty)
        # motmetrics' own iou_matrix calls np.asfarray, gone in NumPy 2: the same distances, computed here
        distances = 1.0 - _iou_xywh(gt_boxes, hyp_boxes)
        distances[distances > 1.0 - iou] = np.nan
        accumulator.update(gt_ids, hyp_ids, distances, frameid=frame)
    metrics = ["idf1", "mota", "motp", "num_switches", "num_false_positives", "num_misses", "num_objects",
               "num_unique_objects", "num_predictions", "mostly_tracked"]  # fmt: skip
    summary = mm.metrics.create().compute(accumulator, metrics=metrics, name="all")
    row = summary.loc["all"]
    return {k: (float(row[k]) if k in {"idf1", "mota", "motp"} else int(row[k])) for k in metrics}


def _by_frame(table: Any) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    boxes = table[["X", "Y", "Width", "Height"]].to_numpy(np.float64)
    frames = table.index.get_level_values("FrameId").to_numpy()
    ids = table.index.get_level_values("Id").to_numpy()
    return {int(f): (ids[frames == f], boxes[frames == f]) for f in np.unique(frames)}


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` with every box of `b`, both (N, 4) as x, y, w, h."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    inter = np.prod(np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None), axis=2)
    union = np.prod(a[:, None, 2:], axis=2) + np.prod(b[None, :, 2:], axis=2) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
