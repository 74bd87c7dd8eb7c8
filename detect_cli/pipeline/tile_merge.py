"""Merging the boxes of overlapping tiles: greedy NMS or greedy NMM, matched by IoU or IoS, per class.

Greedy, in confidence order, as SAHI's `greedy_nmm` and torchvision's `nms` do: each box not yet
taken leads a group of the lower-scored boxes of its class that overlap it by more than the
threshold. NMS keeps the leader; NMM (non-maximum merging) grows the leader's box to the union of
its group, so an object cut by a tile edge comes back whole. IoS (intersection over the smaller
box) catches a tile's cut-off part of an object lying inside the whole box found by a neighbour,
which IoU misses (a third of a box has IoU 1/3 with it).

Only pairs that can overlap are compared: boxes sorted by x1, each against those that start before
it ends (a sweep), so a 10k-box image with small objects costs thousands of pairs, not 10^8.
torchvision's `batched_nms` gives the same boxes for nms/iou (tests/pipeline/test_slicing.py checks it) but
has no NMM nor IoS; supervision's `box_non_max_merge` has both but builds an N x N matrix per class
and would add PyAV and three other packages to the install.
"""

from __future__ import annotations

import numpy as np

from detect_cli.core.boxes import pairwise_overlap
from detect_cli.core.choices import SLICE_MATCHES, SLICE_MERGES
from detect_cli.core.detections import Detections

MATCH_THRESHOLD = 0.5  # overlap above which two boxes of a class are one object (SAHI's default too)
_PAIRS_PER_STEP = 1 << 20  # candidate pairs compared at once: bounds memory however the boxes lie


def overlapping_pairs(xyxy: np.ndarray, class_id: np.ndarray, match: str, threshold: float) -> np.ndarray:
    """(P, 2) index pairs (i, j) of boxes of the same class whose overlap exceeds `threshold`."""
    n = len(xyxy)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    order = np.argsort(xyxy[:, 0], kind="stable")
    boxes, classes = xyxy[order].astype(np.float64), class_id[order]
    ends = np.searchsorted(boxes[:, 0], boxes[:, 2], side="left")  # boxes p+1..ends[p]-1 start before p ends
    counts = np.maximum(ends - np.arange(n) - 1, 0)
    found = []
    first = 0
    cumulative = np.cumsum(counts)
    while first < n:
        budget = (cumulative[first - 1] if first else 0) + _PAIRS_PER_STEP
        last = max(first + 1, int(np.searchsorted(cumulative, budget, side="right")))
        found.append(_pairs_among(boxes, classes, np.arange(first, min(last, n)), counts, match, threshold))
        first = last
    pairs = np.concatenate(found)
    return order[pairs]


def _pairs_among(
    boxes: np.ndarray, classes: np.ndarray, rows: np.ndarray, counts: np.ndarray, match: str, threshold: float
) -> np.ndarray:
    per_row = counts[rows]
    a = np.repeat(rows, per_row)
    b = a + 1 + np.arange(len(a)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    same = classes[a] == classes[b]
    a, b = a[same], b[same]
    overlap = pairwise_overlap(boxes[a], boxes[b], match)
    keep = overlap > threshold
    return np.stack([a[keep], b[keep]], axis=1)


def merge_detections(
    detections: Detections, how: str = "nms", match: str = "ios", threshold: float = MATCH_THRESHOLD
) -> tuple[Detections, np.ndarray]:
    """(merged detections, index of each one's leader in `detections`), in confidence order."""
    if how not in SLICE_MERGES or match not in SLICE_MATCHES:
        raise ValueError(
            f"merge must be one of {SLICE_MERGES} and match one of {SLICE_MATCHES}, got {how!r}, {match!r}"
        )
    n = len(detections)
    order = np.argsort(-detections.confidence, kind="stable")
    if n < 2:
        return detections[order], order
    pairs = overlapping_pairs(detections.xyxy, detections.class_id, match, threshold)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = both[np.argsort(both[:, 0], kind="stable")]
    starts = np.searchsorted(both[:, 0], np.arange(n + 1))
    taken = np.zeros(n, bool)
    leaders, boxes = [], []
    xyxy = detections.xyxy
    for i in order:
        if taken[i]:
            continue
        group = both[starts[i] : starts[i + 1], 1]
        group = group[~taken[group]]
        taken[group] = True
        taken[i] = True
        leaders.append(i)
        if how == "nmm" and len(group):
            members = xyxy[np.append(group, i)]
            boxes.append(np.concatenate([members[:, :2].min(0), members[:, 2:].max(0)]))
        else:
            boxes.append(xyxy[i])
    keep = np.array(leaders, np.int64)
    merged = Detections(
        np.array(boxes, np.float32).reshape(-1, 4), detections.confidence[keep], detections.class_id[keep]
    )
    return merged, keep
