from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.boxes import box_iou
from detect_cli.core.detections import Detections
from detect_cli.core.matching import match


def dets(boxes: list[list[float]], classes: list[int], conf: list[float] | None = None) -> Detections:
    return Detections(np.array(boxes, dtype=np.float32).reshape(-1, 4), conf or [0.9] * len(boxes), classes)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [2, 2, 8, 8], 36 / 100),
    ],
)
def test_box_iou(a: list[float], b: list[float], expected: float) -> None:
    assert box_iou(np.array([a], float), np.array([b], float))[0, 0] == pytest.approx(expected)


def test_assignment_is_optimal_not_greedy() -> None:
    """Greedy (best pair first) takes a0-b0 (IoU .82) and leaves a1 with only b1 (IoU .18);
    the optimal assignment makes two valid pairs, a0-b1 and a1-b0 (IoU .54 each)."""
    a = dets([[0, 0, 10, 10], [4, 0, 14, 10]], [0, 0])
    b = dets([[1, 0, 11, 10], [-3, 0, 7, 10]], [0, 0])
    result = match(a, b, 0.5)
    assert sorted(zip(result.a.tolist(), result.b.tolist())) == [(0, 1), (1, 0)]
    assert result.iou.tolist() == pytest.approx([7 / 13, 7 / 13])


def test_classes_never_match_across() -> None:
    a = dets([[0, 0, 10, 10]], [0])
    b = dets([[0, 0, 10, 10]], [1])
    assert len(match(a, b)) == 0


def test_threshold_and_empty_sets() -> None:
    a = dets([[0, 0, 10, 10]], [3])
    assert len(match(a, dets([[6, 0, 16, 10]], [3]), 0.5)) == 0
    assert len(match(a, dets([[6, 0, 16, 10]], [3]), 0.2)) == 1
    assert len(match(Detections.empty(), a)) == 0 and len(match(a, Detections.empty())) == 0
    self_match = match(a, a)
    assert self_match.iou.tolist() == [1.0]
