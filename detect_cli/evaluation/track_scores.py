"""`evaluate --tracks`: a MOT file scored against ground truth (motmetrics: IDF1, MOTA and friends)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.boxes import box_iou, xywh_to_xyxy
from detect_cli.core.errors import ConfigError


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
        distances = 1.0 - box_iou(xywh_to_xyxy(gt_boxes), xywh_to_xyxy(hyp_boxes)).astype(np.float64)
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
