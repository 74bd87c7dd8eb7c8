"""What each detection of one image is: a true positive or one of TIDE's error types (Bolya et al.,
"TIDE: A General Toolbox for Identifying Object Detection Errors", ECCV 2020), by the rules of its
reference implementation (`tidecv`), so that the dAPs of `tide.py` are TIDE's.

Detections are taken most confident first. Each one takes the unmatched label of its class it
overlaps most, if that IoU reaches the foreground threshold (0.5): COCO's greedy matching, also
used by `curves.py`. Every other detection is, in this order of tests:

- loc:  it overlaps a label of its own class by IoU in [background, foreground] (0.1..0.5);
- cls:  it overlaps a label of another class by IoU >= foreground;
- dupe: it overlaps a label of its class that a more confident detection already took;
- bkg:  it overlaps no label by more than the background threshold;
- both: anything else (wrong class and badly placed).

A label no detection took is missed when no cls or loc error aims at it either (fixing such an
error would find it). The first (most confident) cls or loc error on a label nobody took is the
one that fixing turns into a true positive; the others are suppressed, as in TIDE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from detect_cli.core.boxes import box_iou
from detect_cli.core.detections import Detections

if TYPE_CHECKING:
    from detect_cli.evaluation.labels import Labels
    from detect_cli.evaluation.predictions import Prediction

FOREGROUND_IOU = 0.5  # TIDE's (and the paper's) thresholds
BACKGROUND_IOU = 0.1
TRUE_POSITIVE = "tp"
FALSE_KINDS = ("cls", "loc", "both", "dupe", "bkg")  # what a false detection can be
ERROR_KINDS = (*FALSE_KINDS, "missed")  # TIDE's six main error types, in its order but loc first
KIND_NAMES = {
    "cls": "classification",
    "loc": "localisation",
    "both": "both (class and place)",
    "dupe": "duplicate",
    "bkg": "background",
    "missed": "missed",
}


@dataclass(frozen=True)
class LabelledImage:
    """One image's predictions with its ground truth (class ids in the model's numbering)."""

    prediction: Prediction
    truth: Detections

    @property
    def name(self) -> str:
        return self.prediction.name

    @property
    def detections(self) -> Detections:
        return self.prediction.detections


def pair_up(predictions: Iterable[Prediction], labels: Labels) -> list[LabelledImage]:
    """The predictions that have labels, each with its labels (the others are left out)."""
    pairs = []
    for prediction in predictions:
        truth = labels.find(prediction)
        if truth is not None:
            pairs.append(LabelledImage(prediction, truth))
    return pairs


@dataclass(frozen=True)
class ImageErrors:
    """Per detection considered (`order`: indices into the detections, most confident first) its
    `kind` ("tp" or one of `FALSE_KINDS`), the label it refers to (`target`, -1 for none) and
    whether fixing it finds that label (`fixes`); per label whether a true positive took it
    (`matched`) and whether it is a missed error (`missed`)."""

    order: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    fixes: np.ndarray
    matched: np.ndarray
    missed: np.ndarray

    def count(self, kind: str) -> int:
        return int(self.missed.sum()) if kind == "missed" else int((self.kind == kind).sum())

    @property
    def true_positives(self) -> int:
        return self.count(TRUE_POSITIVE)

    @property
    def false_detections(self) -> int:
        return int((self.kind != TRUE_POSITIVE).sum())

    @property
    def not_found(self) -> int:
        """Labels no true positive took (missed, or only reached by a cls/loc error)."""
        return int((~self.matched).sum())


def classify(
    dets: Detections,
    truth: Detections,
    *,
    foreground: float = FOREGROUND_IOU,
    background: float = BACKGROUND_IOU,
    max_dets: int | None = None,
) -> ImageErrors:
    """TIDE's verdict on every detection of one image (the `max_dets` most confident only, if given)."""
    order = np.argsort(-dets.confidence, kind="stable")[:max_dets]
    n, m = len(order), len(truth)
    kind = np.full(n, TRUE_POSITIVE, dtype="<U4")
    target = np.full(n, -1, dtype=np.int64)
    fixes = np.zeros(n, dtype=bool)
    matched = np.zeros(m, dtype=bool)
    if m == 0:
        kind[:] = "bkg"
        return ImageErrors(order, kind, target, fixes, matched, matched.copy())
    iou = box_iou(dets.xyxy[order].astype(np.float64), truth.xyxy.astype(np.float64)).astype(np.float64)
    same = dets.class_id[order][:, None] == truth.class_id[None, :]
    same_iou, other_iou = iou * same, iou * ~same
    free = same_iou.copy()
    taken = np.zeros(n, dtype=bool)
    for i in range(n):
        j = int(np.argmax(free[i]))
        if free[i, j] >= foreground:
            taken[i], matched[j] = True, True
            target[i] = j
            free[:, j] = 0
    used_iou = same_iou * matched[None, :]
    aimed = np.zeros(m, dtype=bool)  # a cls/loc error aims at this unmatched label (TIDE's "usable")
    for i in np.flatnonzero(~taken):
        kind[i], target[i] = _false_kind(same_iou[i], other_iou[i], used_iou[i], iou[i], foreground, background)
        if kind[i] in ("loc", "cls") and not matched[target[i]]:
            fixes[i] = not aimed[target[i]]  # only the most confident error on a label is fixed
            aimed[target[i]] = True
    return ImageErrors(order, kind, target, fixes, matched, ~matched & ~aimed)


def _false_kind(
    same: np.ndarray, other: np.ndarray, used: np.ndarray, any_class: np.ndarray, foreground: float, background: float
) -> tuple[str, int]:
    """TIDE's tests in its order, on one unmatched detection's IoU rows: (kind, label it refers to)."""
    j = int(np.argmax(same))
    if background <= same[j] <= foreground:
        return "loc", j
    j = int(np.argmax(other))
    if other[j] >= foreground:
        return "cls", j
    j = int(np.argmax(used))
    if used[j] >= foreground:
        return "dupe", j
    j = int(np.argmax(any_class))
    return ("bkg", -1) if any_class[j] <= background else ("both", j)


def above(dets: Detections, conf: float) -> Detections:
    return dets[dets.confidence >= conf]


def classify_all(images: Sequence[LabelledImage], conf: float = 0.0, **kwargs: float) -> list[ImageErrors]:
    """`classify` of each image's detections at or above `conf`."""
    return [classify(above(image.detections, conf), image.truth, **kwargs) for image in images]  # type: ignore[arg-type]
