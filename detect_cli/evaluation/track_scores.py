"""`evaluate --tracks`: MOTChallenge files read and checked once, indexed by frame, and scored (motmetrics).

A MOT file is hostile input like any other: it comes through the guarded reader (a regular file of
at most `MOT_MAX_BYTES`), and every row must be `frame,id,x,y,w,h[,...]` with a whole frame number
from 1, a whole id, finite coordinates and sizes that are not negative; the first row that is not
is a `ConfigError` naming `file:line`. Rows are parsed by NumPy in one pass (2 M rows in about a
second), sorted by frame once, and each frame's rows are then one slice, never a scan of the file.

One frame's matching is a dense ground truth x predictions matrix (motmetrics' assignment needs it),
so a frame may hold at most `MAX_BOXES_PER_FRAME` ground-truth boxes (checked when the file is read,
before any model runs) and `MAX_PAIRS` pairs: more is refused with the frame named, not a MemoryError.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.boxes import box_iou, xywh_to_xyxy
from detect_cli.core.errors import ConfigError
from detect_cli.core.guarded_read import UnreadableFile, read_text

MOT_MAX_BYTES = 512 * 2**20  # about 17 M rows; MOT17's largest gt.txt is 1 MiB
MAX_BOXES_PER_FRAME = 10_000  # MOT20's busiest frame has a few hundred
MAX_PAIRS = 4_000_000  # ground-truth x predicted boxes in one frame: a 32 MB distance matrix
COLUMNS = "frame,id,x,y,w,h"
SCORES = (
    "idf1",
    "mota",
    "motp",
    "num_switches",
    "num_false_positives",
    "num_misses",
    "num_objects",
    "num_unique_objects",
    "num_predictions",
    "mostly_tracked",
)
RATIOS = ("idf1", "mota", "motp")  # undefined (None) when nothing could be matched or counted


@dataclass(frozen=True)
class MotRows:
    """A MOT file's boxes sorted by frame: frame `frames[k]` is rows `starts[k]:starts[k + 1]`."""

    name: str
    frames: np.ndarray  # (F,) int64, ascending
    starts: np.ndarray  # (F + 1,) int64
    ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64: x, y, w, h

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and boxes of one frame (empty when it has none)."""
        k = int(np.searchsorted(self.frames, number))
        if k == len(self.frames) or self.frames[k] != number:
            return self.ids[:0], self.boxes[:0]
        lo, hi = self.starts[k], self.starts[k + 1]
        return self.ids[lo:hi], self.boxes[lo:hi]

    def tracked(self) -> MotRows:
        """Only the rows in a track (id >= 0): boxes with id -1 are detections, not a tracker's output."""
        return _indexed(self.name, *self._columns(self.ids >= 0))

    def _columns(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frames = np.repeat(self.frames, np.diff(self.starts))
        return frames[keep], self.ids[keep], self.boxes[keep]


def read_mot(path: Path, *, allow_empty: bool = False) -> MotRows:
    """A MOT file, checked (see the module docstring); ConfigError naming the file (and line), also
    for a file without rows unless `allow_empty` (predictions: a run that found nothing)."""
    try:
        text = read_text(path, MOT_MAX_BYTES)
    except UnreadableFile as exc:
        raise ConfigError(f"cannot read MOT file {path}: {exc}") from None
    rows = parse_mot(text, str(path))
    if not len(rows) and not allow_empty:
        raise ConfigError(f"MOT file {path} has no rows", f"one box per line: {COLUMNS},...")
    return rows


def parse_mot(text: str, name: str = "(rows)") -> MotRows:
    """MOT rows from text; `name` is what messages call it."""
    lines = text.lstrip("\ufeff")
    if not lines.strip():
        return _indexed(name, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)))
    first = next(line for line in lines.splitlines() if line.strip())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data"
            table = np.loadtxt(
                io.StringIO(lines),
                delimiter="," if "," in first else None,
                usecols=range(6),
                ndmin=2,
                dtype=np.float64,
                comments=None,
            )
    except ValueError:
        _first_bad_line(lines, name)  # says which line, and why
        raise ConfigError(f"{name}: not a MOT file (expected {COLUMNS},... on every line)") from None
    frame, ids, boxes = table[:, 0], table[:, 1], table[:, 2:6]
    good = (
        np.isfinite(table).all(axis=1)
        & (frame >= 1)
        & (frame == np.floor(frame))
        & (ids == np.floor(ids))
        & (boxes[:, 2:] >= 0).all(axis=1)
        & (np.abs(table[:, :2]) < 2**53).all(axis=1)
    )
    if not good.all():
        _first_bad_line(lines, name)
        raise ConfigError(f"{name}: row {int(np.argmin(good)) + 1} is not a MOT row ({COLUMNS},...)")
    rows = _indexed(name, frame.astype(np.int64), ids.astype(np.int64), boxes)
    _refuse_repeated_ids(rows)
    return rows


def _indexed(name: str, frames: np.ndarray, ids: np.ndarray, boxes: np.ndarray) -> MotRows:
    order = np.lexsort((ids, frames))  # by frame, then id: a repeated id sits beside its twin
    frames, ids, boxes = frames[order], ids[order], boxes[order]
    unique, starts = np.unique(frames, return_index=True)
    return MotRows(name, unique, np.append(starts, len(frames)).astype(np.int64), ids, boxes)


def _refuse_repeated_ids(rows: MotRows) -> None:
    frames = np.repeat(rows.frames, np.diff(rows.starts))
    twin = (frames[1:] == frames[:-1]) & (rows.ids[1:] == rows.ids[:-1]) & (rows.ids[1:] >= 0)
    if twin.any():
        k = int(np.argmax(twin))
        raise ConfigError(
            f"{rows.name}: frame {frames[k]} has id {rows.ids[k]} twice", "an id names one object, seen once a frame"
        )


def _first_bad_line(text: str, name: str) -> None:
    """Raise the ConfigError for the first line that is not a MOT row (one Python pass: errors only)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        problem = _row_problem(line)
        if problem:
            shown = line.strip() if len(line.strip()) <= 60 else line.strip()[:57] + "..."
            raise ConfigError(f"{name}:{number}: {problem}, got {shown!r}", f"MOT rows are {COLUMNS},...")


def _row_problem(line: str) -> str | None:
    parts = line.split(",") if "," in line else line.split()
    if "_" in line:  # Python reads 1_000 as a number; NumPy, and MOT tools, do not
        return f"expected numbers {COLUMNS}"
    if len(parts) < 6:
        return f"expected at least 6 values {COLUMNS}, not {len(parts)}"
    try:
        frame, track, x, y, w, h = (float(p) for p in parts[:6])
    except ValueError:
        return f"expected numbers {COLUMNS}"
    if not all(math.isfinite(v) for v in (frame, track, x, y, w, h)):
        return "values must be finite numbers"
    if frame < 1 or frame != int(frame) or frame >= 2**53:
        return "the frame must be a whole number from 1"
    if track != int(track) or abs(track) >= 2**53:
        return "the id must be a whole number"
    if w < 0 or h < 0:
        return "width and height must not be negative"
    return None


def check_truth(rows: MotRows) -> None:
    """Refuse ground truth whose frames could not be scored in bounded memory."""
    counts = np.diff(rows.starts)
    if len(counts) and counts.max() > MAX_BOXES_PER_FRAME:
        k = int(np.argmax(counts))
        raise ConfigError(
            f"{rows.name}: frame {rows.frames[k]} has {counts[k]} boxes, more than the "
            f"{MAX_BOXES_PER_FRAME} a frame can be scored with",
            "is it a MOT ground-truth file?",
        )


def score_tracks(
    truth: Path | MotRows, predicted: Path | str | MotRows, *, iou: float = 0.5, frames: Iterable[int] | None = None
) -> dict[str, float | int | None]:
    """IDF1, MOTA and friends of `predicted` (a MOT file, MOT rows as text, or parsed rows) against
    `truth`, boxes matching at IoU >= `iou`. `frames` (1-based) restricts the ground truth to the
    frames that were run (--vid-stride, a time range). A ratio with nothing to count (MOTA without a
    ground-truth box, MOTP without a match) is None: see `undefined`."""
    import motmetrics as mm

    gt = truth if isinstance(truth, MotRows) else read_mot(truth)
    check_truth(gt)
    if isinstance(predicted, MotRows):
        hyp = predicted
    else:
        hyp = read_mot(predicted, allow_empty=True) if isinstance(predicted, Path) else parse_mot(predicted)
    hyp = hyp.tracked()
    wanted = sorted(set(frames)) if frames is not None else gt.frames.tolist()
    accumulator = mm.MOTAccumulator(auto_id=False)
    for frame in wanted:
        (gt_ids, gt_boxes), (hyp_ids, hyp_boxes) = gt.frame(frame), hyp.frame(frame)
        if len(gt_ids) * len(hyp_ids) > MAX_PAIRS:
            raise ConfigError(
                f"frame {frame}: {len(gt_ids)} ground-truth x {len(hyp_ids)} predicted boxes are "
                f"more than the {MAX_PAIRS} pairs a frame can be scored with",
                "lower --max-det",
            )
        # motmetrics' own iou_matrix calls np.asfarray, gone in NumPy 2: the same distances, computed here
        distances = 1.0 - box_iou(xywh_to_xyxy(gt_boxes), xywh_to_xyxy(hyp_boxes)).astype(np.float64)
        distances[distances > 1.0 - iou] = np.nan
        accumulator.update(gt_ids, hyp_ids, distances, frameid=frame)
    with np.errstate(divide="ignore", invalid="ignore"):  # the undefined ratios: None below
        summary = mm.metrics.create().compute(accumulator, metrics=list(SCORES), name="all")
    row = summary.loc["all"]
    return {k: (_ratio(row[k]) if k in RATIOS else int(row[k])) for k in SCORES}


def _ratio(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


_UNDEFINED = {
    "idf1": "IDF1 is undefined (null): no ground-truth or predicted box in the frames that ran",
    "mota": "MOTA is undefined (null): no ground-truth box in the frames that ran",
    "motp": "MOTP is undefined (null): no predicted box matched a ground-truth box",
}


def undefined(scores: dict[str, Any]) -> list[str]:
    """Why each ratio that is None could not be computed, one warning each."""
    return [why for key, why in _UNDEFINED.items() if key in scores and scores[key] is None]
