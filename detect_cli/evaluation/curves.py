"""Precision-recall curves and F1 against confidence, per class and overall, at IoU 0.5.

- PR: COCO's interpolated precision at 101 recall points, read from faster-coco-eval's accumulated
  evaluation (the arrays its `extra.Curves` plots), so each curve's mean is the class's mAP50 in
  evaluate's table and the overall curve (the mean over classes with labels) averages to mAP50.
  (`extra.Curves` itself counts up to 1000 detections per image where mAP counts 100, so its
  curves would not be the table's.)
- F1: exact precision and recall of the detections at or above each confidence, matched as COCO
  matches (most confident first: `errors.classify`); overall pools every class, as the table's
  "all" row does. The best threshold is searched over every confidence that occurs, not a grid.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect_cli.core.coco_map import coco_boxes
from detect_cli.evaluation.errors import FOREGROUND_IOU, TRUE_POSITIVE, ImageErrors, LabelledImage

CONFIDENCE_GRID = np.arange(101) / 100  # where the F1 curves are sampled (0.00, 0.01, ... 1.00)


@dataclass(frozen=True)
class PRCurve:
    """One class's (or the overall) interpolated precision at each recall point, and the lowest
    confidence a detection needs to be counted there (0 where that recall is never reached)."""

    name: str
    recall: np.ndarray
    precision: np.ndarray
    confidence: np.ndarray
    ap: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "ap50": self.ap,
            "recall": self.recall.tolist(),
            "precision": self.precision.tolist(),
            "confidence": self.confidence.tolist(),
        }


@dataclass(frozen=True)
class PRCurves:
    classes: list[PRCurve]
    overall: PRCurve | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "iou": FOREGROUND_IOU,
            "overall": self.overall.as_dict() if self.overall else None,
            "classes": [c.as_dict() for c in self.classes],
        }


def pr_curves(images: Sequence[LabelledImage], names: dict[int, str]) -> PRCurves:
    """COCO's PR curves at IoU 0.5 for every class with labels, from faster-coco-eval."""
    gt_images, gt, dt = [], [], []
    for image_id, image in enumerate(images, start=1):
        p = image.prediction
        gt_images.append({"id": image_id, "width": p.width, "height": p.height, "file_name": p.name})
        gt += coco_boxes(image.truth, image_id, with_score=False, first_id=len(gt) + 1)
        dt += coco_boxes(p.detections, image_id, with_score=True, first_id=len(dt) + 1)
    if not gt:
        return PRCurves([], None)
    from faster_coco_eval import COCO, COCOeval_faster

    categories = sorted(set(names) | {a["category_id"] for a in gt + dt})
    recall = np.arange(101) / 100
    if not dt:
        zero = np.zeros(101)
        labelled = sorted({a["category_id"] for a in gt})
        curves = [PRCurve(names.get(c, str(c)), recall, zero, zero, 0.0) for c in labelled]
        return PRCurves(curves, PRCurve("all", recall, zero, zero, 0.0))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO({"images": gt_images, "annotations": gt, "categories": [{"id": c} for c in categories]})
        evaluator = COCOeval_faster(coco_gt, coco_gt.loadRes(dt), "bbox", print_function=lambda *_: None)
        evaluator.params.iouThrs = np.array([FOREGROUND_IOU])
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][0, :, :, 0, -1]  # [recall points, categories] at 100 per image
    scores = evaluator.eval["scores"][0, :, :, 0, -1]
    curves = []
    for k, cat in enumerate(evaluator.params.catIds):
        if (precision[:, k] > -1).all():  # -1: no labels of this class
            p = precision[:, k].astype(np.float64)
            curves.append(
                PRCurve(names.get(cat, str(cat)), recall, p, scores[:, k].astype(np.float64), float(p.mean()))
            )
    mean = np.mean([c.precision for c in curves], axis=0)
    return PRCurves(curves, PRCurve("all", recall, mean, np.zeros(101), float(mean.mean())))


@dataclass(frozen=True)
class F1Curve:
    """Precision, recall and F1 of the detections at or above each confidence of `CONFIDENCE_GRID`,
    and the best threshold (highest F1; of equals, the highest confidence)."""

    name: str
    confidence: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    best_conf: float
    best_f1: float
    best_precision: float
    best_recall: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "best_conf": self.best_conf,
            "best_f1": self.best_f1,
            "best_precision": self.best_precision,
            "best_recall": self.best_recall,
            "confidence": self.confidence.tolist(),
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "f1": self.f1.tolist(),
        }


@dataclass(frozen=True)
class F1Curves:
    classes: list[F1Curve]
    overall: F1Curve
    iou: float = field(default=FOREGROUND_IOU)

    def as_dict(self) -> dict[str, Any]:
        return {"iou": self.iou, "overall": self.overall.as_dict(), "classes": [c.as_dict() for c in self.classes]}


def f1_curves(images: Sequence[LabelledImage], verdicts: Sequence[ImageErrors], names: dict[int, str]) -> F1Curves:
    """F1 curves from `classify` verdicts of every detection of each image (in the same order)."""
    conf, cls, hit = [], [], []
    for image, verdict in zip(images, verdicts, strict=True):
        dets = image.detections
        conf.append(dets.confidence[verdict.order])
        cls.append(dets.class_id[verdict.order])
        hit.append(verdict.kind == TRUE_POSITIVE)
    confs = np.concatenate(conf) if conf else np.zeros(0)
    classes = np.concatenate(cls) if cls else np.zeros(0, np.int64)
    hits = np.concatenate(hit) if hit else np.zeros(0, bool)
    truth = np.concatenate([im.truth.class_id for im in images]) if images else np.zeros(0, np.int64)
    per_class = [
        _f1(names.get(int(c), str(int(c))), confs[classes == c], hits[classes == c], int((truth == c).sum()))
        for c in np.union1d(np.unique(truth), np.unique(classes))
    ]
    return F1Curves(per_class, _f1("all", confs, hits, len(truth)))


def _f1(name: str, conf: np.ndarray, hit: np.ndarray, positives: int) -> F1Curve:
    ranked = np.argsort(-conf, kind="stable")
    conf, hit = conf[ranked], hit[ranked]
    tp = np.concatenate([[0], np.cumsum(hit)])
    # every threshold that changes the counts: each distinct confidence (the last of a tied run)
    last = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True]) if len(conf) else np.zeros(0, np.int64)
    p, r, f = _prf(tp[last + 1], last + 1, positives)
    best = int(np.argmax(f)) if len(f) and f.max() > 0 else -1
    counted = np.searchsorted(-conf, -CONFIDENCE_GRID, side="right")  # detections with conf >= t
    gp, gr, gf = _prf(tp[counted], counted, positives)
    if best < 0:
        return F1Curve(name, CONFIDENCE_GRID, gp, gr, gf, 0.0, 0.0, 0.0, 0.0)
    return F1Curve(
        name, CONFIDENCE_GRID, gp, gr, gf, float(conf[last[best]]), float(f[best]), float(p[best]), float(r[best])
    )


def _prf(tp: np.ndarray, n: np.ndarray, positives: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision (1 where nothing is counted: nothing claimed, nothing wrong), recall and F1."""
    tp, n = tp.astype(np.float64), n.astype(np.float64)
    precision = np.divide(tp, n, out=np.ones_like(tp), where=n > 0)
    recall = tp / positives if positives else np.zeros_like(tp)
    total = n + positives
    f1 = np.divide(2 * tp, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1
