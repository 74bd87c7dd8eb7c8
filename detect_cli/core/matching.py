"""One-to-one matching of two sets of boxes by class and IoU (Hungarian assignment, not greedy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from detect_cli.core.boxes import box_iou
from detect_cli.core.detections import Detections


@dataclass(frozen=True)
class Match:
    """Index pairs (into a and b) matched with the same class and IoU >= threshold, and their IoUs."""

    a: np.ndarray
    b: np.ndarray
    iou: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def match(a: Detections, b: Detections, iou_threshold: float = 0.5) -> Match:
    """One-to-one assignment within each class maximising the summed IoU of pairs at or above the
    threshold (pairs below it weigh nothing, so they never crowd out valid ones)."""
    ia, ib, ious = [], [], []
    for cls in np.intersect1d(a.class_id, b.class_id):
        idx_a, idx_b = np.flatnonzero(a.class_id == cls), np.flatnonzero(b.class_id == cls)
        iou = box_iou(a.xyxy[idx_a], b.xyxy[idx_b])
        rows, cols = linear_sum_assignment(np.where(iou >= iou_threshold, iou, 0.0), maximize=True)
        keep = iou[rows, cols] >= iou_threshold
        ia.append(idx_a[rows[keep]])
        ib.append(idx_b[cols[keep]])
        ious.append(iou[rows[keep], cols[keep]])
    if not ia:
        empty = np.zeros(0, dtype=np.int64)
        return Match(empty, empty, np.zeros(0, dtype=np.float32))
    return Match(np.concatenate(ia), np.concatenate(ib), np.concatenate(ious))


@dataclass
class Agreement:
    """How far boxes `b` agree with reference boxes `a`, over many images: the one F1 that compare
    (model vs model) and export's check (export vs PyTorch) both report."""

    matched: int = 0
    count_a: int = 0
    count_b: int = 0
    iou_sum: float = 0.0

    def add(self, matched: int, count_a: int, count_b: int, iou_sum: float = 0.0) -> None:
        self.matched += matched
        self.count_a += count_a
        self.count_b += count_b
        self.iou_sum += iou_sum

    @property
    def precision(self) -> float:
        return self.matched / self.count_b if self.count_b else 1.0 if not self.count_a else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.count_a if self.count_a else 1.0 if not self.count_b else 0.0

    @property
    def f1(self) -> float:
        total = self.count_a + self.count_b
        return 2 * self.matched / total if total else 1.0

    @property
    def mean_iou(self) -> float | None:
        return self.iou_sum / self.matched if self.matched else None
