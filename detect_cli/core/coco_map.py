"""COCO mAP50 and mAP50-95 of detections against truth boxes, through faster-coco-eval (the same
numbers as pycocotools). `evaluate` scores a run with it; the INT8 gate (models/int8_gate.py) scores
a quantized model against its FP32 original with it."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import Any

import numpy as np

from detect_cli.core.detections import Detections


def coco_boxes(dets: Detections, image_id: int, *, with_score: bool, first_id: int) -> list[dict[str, Any]]:
    """COCO annotations (xywh) of `dets` on image `image_id`, numbered from `first_id`."""
    out = []
    for n, (box, conf, cls) in enumerate(dets):
        x1, y1, x2, y2 = (float(v) for v in box)
        ann = {
            "id": first_id + n,
            "image_id": image_id,
            "category_id": cls,
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "area": (x2 - x1) * (y2 - y1),
            "iscrowd": 0,
        }
        if with_score:
            ann["score"] = conf
        out.append(ann)
    return out


def coco_map(images: list, gt: list, dt: list, categories: list[int]) -> dict[int, tuple[float, float]]:
    """Per-category (AP50, AP50-95) from faster-coco-eval; categories without labels are left out."""
    if not images or not gt:
        return {}
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO({"images": images, "annotations": gt, "categories": [{"id": c} for c in categories]})
        coco_dt = coco_gt.loadRes(dt) if dt else None
        if coco_dt is None:
            return {c: (0.0, 0.0) for c in categories}
        evaluator = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *_: None)
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"]  # [iou thresholds, recall points, categories, areas, max dets]
    result = {}
    for k, cat in enumerate(evaluator.params.catIds):
        all_iou = precision[:, :, k, 0, -1]
        at50 = precision[0, :, k, 0, -1]
        if (all_iou > -1).any():
            result[cat] = (float(at50[at50 > -1].mean()), float(all_iou[all_iou > -1].mean()))
    return result


def mean_map(
    pairs: Iterable[tuple[Detections, Detections, tuple[int, int]]], categories: list[int]
) -> tuple[float, float]:
    """(mAP50, mAP50-95) over the categories that have truth boxes, of (truth, detections, (h, w))
    per image."""
    images, gt, dt = [], [], []
    for image_id, (truth, dets, (h, w)) in enumerate(pairs, start=1):
        images.append({"id": image_id, "width": w, "height": h})
        gt += coco_boxes(truth, image_id, with_score=False, first_id=len(gt) + 1)
        dt += coco_boxes(dets, image_id, with_score=True, first_id=len(dt) + 1)
    per_class = coco_map(images, gt, dt, categories)
    if not per_class:
        return 0.0, 0.0
    return float(np.mean([v[0] for v in per_class.values()])), float(np.mean([v[1] for v in per_class.values()]))
