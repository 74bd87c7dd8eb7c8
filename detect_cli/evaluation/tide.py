"""TIDE's breakdown of a model's errors (Bolya et al., ECCV 2020): for each error type, the AP50
gained by fixing that type alone (dAP), at the paper's thresholds (foreground IoU 0.5, background 0.1).

A port of the reference implementation (`tidecv` 1.0.1, `TIDERun` and `fix_main_errors`), tested
against it (tests/evaluation/test_tide.py): the same per-class 101-point AP, the same fixes:

- cls: the detection takes the label's class and becomes a true positive; loc: it becomes a true
  positive (both only for the most confident error on a label nobody took; other such errors are
  removed, as is an error on a label a true positive took);
- dupe, bkg, both: the detection is removed;
- missed: the label is dropped from the count of labels.

AP here is TIDE's: per class over every class with labels or detections (a class with detections
and no labels counts as 0), at most `max_dets` detections per image (100, as TIDE and COCO). dAPs
are in mAP units (0..1; TIDE prints them x100); a negative one (binning noise) is 0, as in TIDE.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detect_cli.evaluation.errors import (
    BACKGROUND_IOU,
    ERROR_KINDS,
    FOREGROUND_IOU,
    TRUE_POSITIVE,
    ImageErrors,
    LabelledImage,
    classify,
)

MAX_DETS = 100
RECALL_POINTS = np.arange(101) / 100  # k / 100 exactly, as TIDE has them (linspace differs in the last bit)


@dataclass(frozen=True)
class TideReport:
    """TIDE's AP50 of the run, and per error type how many there are and the dAP of fixing them."""

    ap50: float
    counts: dict[str, int]
    dap: dict[str, float]
    foreground: float = FOREGROUND_IOU
    background: float = BACKGROUND_IOU

    def rows(self) -> list[dict[str, Any]]:
        return [{"type": k, "errors": self.counts[k], "dap": self.dap[k]} for k in ERROR_KINDS]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ap50": self.ap50,
            "foreground_iou": self.foreground,
            "background_iou": self.background,
            "max_dets": MAX_DETS,
            "errors": self.rows(),
        }


@dataclass(frozen=True)
class _Point:
    """One detection's data point for AP: its class, confidence and whether it is a true positive."""

    cls: int
    score: float
    correct: bool


@dataclass
class _Error:
    kind: str
    original: _Point | None  # None for a missed label (it has no data point)
    fixed: _Point | None  # None: fixing removes it
    cls: int  # a missed label's class (its fix lowers that class's count)


def tide(
    images: Sequence[LabelledImage],
    *,
    foreground: float = FOREGROUND_IOU,
    background: float = BACKGROUND_IOU,
    max_dets: int = MAX_DETS,
) -> TideReport:
    """TIDE's main errors over the images (every detection: run the model at a low confidence)."""
    verdicts = [
        classify(im.detections, im.truth, foreground=foreground, background=background, max_dets=max_dets)
        for im in images
    ]
    return tide_from(images, verdicts, foreground=foreground, background=background)


def tide_from(
    images: Sequence[LabelledImage],
    verdicts: Sequence[ImageErrors],
    *,
    foreground: float = FOREGROUND_IOU,
    background: float = BACKGROUND_IOU,
) -> TideReport:
    """`tide` from verdicts already made (`classify` of each image, in the same order)."""
    positives: Counter[int] = Counter()
    correct: list[_Point] = []
    errors: list[_Error] = []
    pushed: list[_Point] = []  # every detection in TIDE's order (ties in AP keep it)
    for image, verdict in zip(images, verdicts, strict=True):
        dets, truth = image.detections, image.truth
        positives.update(int(c) for c in truth.class_id)
        for k, i in enumerate(verdict.order):
            point = _Point(int(dets.class_id[i]), float(dets.confidence[i]), False)
            kind = str(verdict.kind[k])
            if kind == TRUE_POSITIVE:
                point = _Point(point.cls, point.score, True)
                correct.append(point)
                pushed.append(point)
                continue
            pushed.append(point)
            fixed = None
            if verdict.fixes[k]:  # cls takes the label's class; loc keeps its own (the same)
                fixed = _Point(int(truth.class_id[verdict.target[k]]), point.score, True)
            errors.append(_Error(kind, point, fixed, point.cls))
        errors += [_Error("missed", None, None, int(c)) for c in truth.class_id[verdict.missed]]
    classes = set(positives) | {p.cls for p in correct} | {e.original.cls for e in errors if e.original}
    base = _map(pushed, positives, classes)
    dap = {}
    for kind in ERROR_KINDS:
        fixed_positives = Counter(positives)
        points = []
        for error in errors:
            if error.kind != kind:
                if error.original is not None:
                    points.append(error.original)
            elif kind == "missed":
                fixed_positives[error.cls] -= 1
            elif error.fixed is not None:
                points.append(error.fixed)
        dap[kind] = max(_map(points + correct, fixed_positives, classes) - base, 0.0)
    counts = {kind: sum(e.kind == kind for e in errors) for kind in ERROR_KINDS}
    return TideReport(base, counts, dap, foreground, background)


def _map(points: list[_Point], positives: Counter[int], classes: set[int]) -> float:
    """TIDE's mAP: the mean AP of the classes that have labels or detections."""
    by_class: dict[int, list[_Point]] = defaultdict(list)
    for point in points:
        by_class[point.cls].append(point)
    aps = [_ap(by_class[c], positives[c]) for c in sorted(classes) if by_class[c] or positives[c]]
    return float(np.mean(aps)) if aps else 0.0


def _ap(points: list[_Point], positives: int) -> float:
    """101-point interpolated AP of one class (COCO's, as TIDE computes it)."""
    if positives <= 0 or not points:
        return 0.0
    ranked = sorted(points, key=lambda p: -p.score)  # stable: ties keep their order, as in TIDE
    hits = np.cumsum([p.correct for p in ranked])
    precision = hits / np.arange(1, len(ranked) + 1)
    recall = hits / positives
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # no dips: the best precision from here on
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0).mean())
