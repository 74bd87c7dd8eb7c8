"""The confusion matrix of detections at one confidence and IoU, with a background row and column.

Rows are the labels' classes, columns the predicted ones; the last row and column are background.
Each label and each detection at or above the confidence is counted once: a label matched to a
detection (IoU >= the threshold) in its row under the detection's class, a label nothing matched
under background (missed), a detection nothing matched in the background row (a false detection).
Matching is one-to-one, first within each class (the optimal assignment evaluate's precision and
recall use, so the diagonal is their true positives), then across classes among what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.matching import match
from detect_cli.evaluation.errors import LabelledImage, above

BACKGROUND = "background"


@dataclass(frozen=True)
class ConfusionMatrix:
    """`counts[true, predicted]` over `names` + background (the last index)."""

    names: list[str]
    counts: np.ndarray
    conf: float
    iou: float

    @property
    def matched(self) -> int:
        return int(self.counts[:-1, :-1].sum())

    @property
    def missed(self) -> int:
        return int(self.counts[:-1, -1].sum())

    @property
    def false_detections(self) -> int:
        return int(self.counts[-1, :-1].sum())

    def normalised(self) -> np.ndarray:
        """Each row over its total: where a class's labels went (the background row: what the false
        detections were called). A row with nothing in it stays 0."""
        totals = self.counts.sum(axis=1, keepdims=True).astype(np.float64)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conf": self.conf,
            "iou": self.iou,
            "rows": "labels",
            "columns": "predictions",
            "names": [*self.names, BACKGROUND],
            "counts": self.counts.tolist(),
            "normalised": self.normalised().tolist(),
            "matched": self.matched,
            "missed": self.missed,
            "false_detections": self.false_detections,
        }


def confusion_matrix(
    images: Sequence[LabelledImage], names: dict[int, str], conf: float, iou: float = 0.5
) -> ConfusionMatrix:
    """The matrix over the classes that occur in the labels or in the detections at `conf`."""
    kept = [above(image.detections, conf) for image in images]
    present = set()
    for image, dets in zip(images, kept):
        present.update(image.truth.class_id.tolist(), dets.class_id.tolist())
    ids = sorted(present)
    index = {c: k for k, c in enumerate(ids)}
    bg = len(ids)
    counts = np.zeros((bg + 1, bg + 1), dtype=np.int64)
    for image, dets in zip(images, kept):
        truth = image.truth
        found, taken = _pairs(dets, truth, iou)
        for d, t in zip(found, taken):
            counts[index[int(truth.class_id[t])], index[int(dets.class_id[d])]] += 1
        for t in np.setdiff1d(np.arange(len(truth)), taken):
            counts[index[int(truth.class_id[t])], bg] += 1
        for d in np.setdiff1d(np.arange(len(dets)), found):
            counts[bg, index[int(dets.class_id[d])]] += 1
    return ConfusionMatrix([names.get(c, str(c)) for c in ids], counts, conf, iou)


def _pairs(dets: Detections, truth: Detections, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """(detection, label) index pairs: same-class matches first, then any class among the rest."""
    same = match(dets, truth, iou)
    rest_d = np.setdiff1d(np.arange(len(dets)), same.a)
    rest_t = np.setdiff1d(np.arange(len(truth)), same.b)
    anyclass = match(_one_class(dets[rest_d]), _one_class(truth[rest_t]), iou)
    return np.r_[same.a, rest_d[anyclass.a]].astype(np.int64), np.r_[same.b, rest_t[anyclass.b]].astype(np.int64)


def _one_class(dets: Detections) -> Detections:
    return Detections(dets.xyxy, dets.confidence, np.zeros(len(dets), np.int64))
