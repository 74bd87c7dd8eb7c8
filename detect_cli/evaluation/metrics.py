"""Score detections against labels: COCO mAP50 / mAP50-95 (faster-coco-eval, the same numbers as
pycocotools), and precision / recall at the run's confidence threshold (one-to-one matches at IoU 0.5).

Labels (`labels.py`) are a COCO ground-truth JSON or a folder of YOLO txt files. Predictions find
their labels by the image's relative name, then by its file name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect_cli.core.coco_map import coco_boxes, coco_map
from detect_cli.core.matching import match
from detect_cli.evaluation.labels import Labels, read_yolo_txt
from detect_cli.evaluation.predictions import Prediction
from detect_cli.pipeline.run_summary import RunSummary

IOU_FOR_PR = 0.5
__all__ = ["ClassScore", "EvalReport", "Labels", "Prediction", "evaluate", "read_yolo_txt"]


@dataclass
class ClassScore:
    name: str
    instances: int = 0
    detections: int = 0
    true_positives: int = 0
    map50: float = 0.0
    map50_95: float = 0.0

    @property
    def precision(self) -> float:
        return self.true_positives / self.detections if self.detections else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.instances if self.instances else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "instances": self.instances,
            "detections": self.detections,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "map50": round(self.map50, 4),
            "map50_95": round(self.map50_95, 4),
        }


@dataclass
class EvalReport:
    overall: ClassScore
    classes: list[ClassScore]
    images: int
    unlabelled: list[str] = field(default_factory=list)
    run: RunSummary | None = None  # the detection run behind it (`EvaluateJob`)

    def rows(self) -> list[dict[str, Any]]:
        """One record per class, then the "all" row."""
        return [c.as_dict() for c in (*self.classes, self.overall)]

    def as_dict(self) -> dict[str, Any]:
        doc = {
            "images": self.images,
            "overall": self.overall.as_dict(),
            "classes": [c.as_dict() for c in self.classes],
            "unlabelled": self.unlabelled,
        }
        if self.run is not None:
            doc.update(failed=self.run.as_dict()["failures"], interrupted=self.run.interrupted)
            if self.run.caps.bit:
                doc["caps"] = self.run.caps.as_dict()
        return doc


def evaluate(predictions: Iterable[Prediction], labels: Labels, conf: float = 0.0) -> EvalReport:
    """mAP uses every prediction (run the model at a low confidence for a full PR curve);
    precision and recall count only predictions at or above `conf`."""
    gt_images, gt_anns, dt_anns, unlabelled = [], [], [], []
    names = dict(labels.names)
    scores: dict[int, ClassScore] = {}

    def score(cls: int) -> ClassScore:
        return scores.setdefault(cls, ClassScore(names.get(cls, str(cls))))

    for image_id, pred in enumerate(predictions, start=1):
        truth = labels.find(pred)
        if truth is None:
            unlabelled.append(pred.source)
            continue
        gt_images.append({"id": image_id, "width": pred.width, "height": pred.height, "file_name": pred.name})
        gt_anns += coco_boxes(truth, image_id, with_score=False, first_id=len(gt_anns) + 1)
        dt_anns += coco_boxes(pred.detections, image_id, with_score=True, first_id=len(dt_anns) + 1)
        kept = pred.detections[pred.detections.confidence >= conf]
        pairs = match(kept, truth, IOU_FOR_PR)
        for cls, n in truth.counts().items():
            score(cls).instances += n
        for cls, n in kept.counts().items():
            score(cls).detections += n
        for cls in kept.class_id[pairs.a]:
            score(int(cls)).true_positives += 1

    categories = sorted(set(names) | set(scores))
    per_class_ap = coco_map(gt_images, gt_anns, dt_anns, categories)
    for cls, (ap50, ap) in per_class_ap.items():
        if cls in scores:
            scores[cls].map50, scores[cls].map50_95 = ap50, ap
    classes = [scores[c] for c in sorted(scores) if scores[c].instances or scores[c].detections]
    with_gt = [c for c in classes if c.instances]
    overall = ClassScore(
        "all",
        instances=sum(c.instances for c in classes),
        detections=sum(c.detections for c in classes),
        true_positives=sum(c.true_positives for c in classes),
        map50=float(np.mean([c.map50 for c in with_gt])) if with_gt else 0.0,
        map50_95=float(np.mean([c.map50_95 for c in with_gt])) if with_gt else 0.0,
    )
    return EvalReport(overall, classes, len(gt_images), unlabelled)
