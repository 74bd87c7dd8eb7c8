"""core/boxes.py: the one box geometry every IoU in the package comes from."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.boxes import box_iou, pairwise_overlap, xywh_to_xyxy, xyxy_to_cxcywh

A = np.array([[0, 0, 10, 10], [0, 0, 4, 4]], np.float32)
B = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)


def test_iou_matrix_of_known_boxes() -> None:
    iou = box_iou(A, B)
    assert iou.shape == (2, 2) and iou.dtype == np.float32
    assert iou[0, 0] == pytest.approx(50 / 150) and iou[0, 1] == 0 and iou[1, 1] == 0
    assert box_iou(A, A).diagonal() == pytest.approx([1, 1])
    assert box_iou(A, np.zeros((0, 4))).shape == (2, 0)


def test_pairwise_overlap_is_row_wise_and_ios_uses_the_smaller_box() -> None:
    inner = np.array([[2, 2, 4, 4]], np.float32)
    outer = np.array([[0, 0, 10, 10]], np.float32)
    assert pairwise_overlap(inner, outer, "iou") == pytest.approx([4 / 100])
    assert pairwise_overlap(inner, outer, "ios") == pytest.approx([1.0])
    assert pairwise_overlap(A[:1], B[:1], "iou") == pytest.approx(box_iou(A[:1], B[:1])[0])
    degenerate = np.array([[1, 1, 1, 1]], np.float32)  # zero area: no overlap, not a division by zero
    assert pairwise_overlap(degenerate, degenerate, "ios") == pytest.approx([0.0])


def test_conversions_round_trip() -> None:
    xywh = np.array([[10, 20, 30, 40]])
    xyxy = xywh_to_xyxy(xywh)
    assert xyxy.tolist() == [[10, 20, 40, 60]]
    assert xyxy_to_cxcywh(xyxy).tolist() == [[25, 40, 30, 40]]
