"""Box geometry, in one place: every IoU the package computes comes from here.

Boxes are (N, 4) arrays of x1, y1, x2, y2 in pixels unless a name says otherwise.
"""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes, float32."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def pairwise_overlap(a: np.ndarray, b: np.ndarray, match: str = "iou") -> np.ndarray:
    """Row-wise overlap of two (N, 4) arrays of boxes: IoU, or IoS (intersection over the smaller box)."""
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    denominator = np.minimum(area_a, area_b) if match == "ios" else area_a + area_b - inter
    return np.divide(inter, denominator, out=np.zeros_like(inter), where=denominator > 0)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Top-left corner and size (MOT's x, y, w, h) to corners."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """Corners to centre and size."""
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], axis=1)
