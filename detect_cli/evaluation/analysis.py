"""Everything `evaluate --save` draws, as numbers: PR and F1 curves, the confusion matrix, TIDE's
error breakdown and the worst images. `--format json` carries `Analysis.as_dict()` too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from detect_cli.evaluation.confusion import ConfusionMatrix, confusion_matrix
from detect_cli.evaluation.curves import F1Curves, PRCurves, f1_curves, pr_curves
from detect_cli.evaluation.errors import LabelledImage, classify
from detect_cli.evaluation.tide import MAX_DETS, TideReport, tide_from
from detect_cli.evaluation.worst import WORST, ImageScore, ModelDifference, differences, score_images, worst_images

MATRIX_IOU = 0.5


@dataclass(frozen=True)
class Analysis:
    pr: PRCurves
    f1: F1Curves
    matrix: ConfusionMatrix
    tide: TideReport
    scores: list[ImageScore]  # every image's errors at `conf`, in the images' order
    worst: list[ImageScore]
    conf: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "conf": self.conf,
            "pr_curves": self.pr.as_dict(),
            "f1_curves": self.f1.as_dict(),
            "confusion_matrix": self.matrix.as_dict(),
            "tide": self.tide.as_dict(),
            "worst_images": [s.as_dict() for s in self.worst],
        }


def analyse(
    images: Sequence[LabelledImage],
    names: dict[int, str],
    *,
    conf: float,
    matrix_conf: float | None = None,
    matrix_iou: float = MATRIX_IOU,
    worst: int = WORST,
) -> Analysis:
    """The analysis of labelled images whose detections go down to a low confidence (mAP's 0.001):
    curves and TIDE use them all; the worst images count those at `conf`; the confusion matrix
    those at `matrix_conf` (default `conf`) matched at `matrix_iou`."""
    verdicts = [classify(im.detections, im.truth, max_dets=MAX_DETS) for im in images]
    scores = score_images(images, conf)
    at = conf if matrix_conf is None else matrix_conf
    return Analysis(
        pr_curves(images, names),
        f1_curves(images, verdicts, names),
        confusion_matrix(images, names, at, matrix_iou),
        tide_from(images, verdicts),
        scores,
        worst_images(scores, worst),
        conf,
    )


@dataclass(frozen=True)
class ModelsAnalysis:
    """`compare --labels`: each model's analysis, and what separates every pair of models."""

    names: list[str]
    analyses: list[Analysis]
    differences: list[ModelDifference]

    def as_dict(self, n: int | None = None) -> dict[str, Any]:
        return {
            "models": {name: a.as_dict() for name, a in zip(self.names, self.analyses)},
            "differences": [d.as_dict(n) for d in self.differences],
        }


def analyse_models(
    models: Sequence[str],
    images: Sequence[Sequence[LabelledImage]],
    class_names: Sequence[dict[int, str]],
    *,
    conf: float,
    **options: Any,
) -> ModelsAnalysis:
    """`analyse` for each model (its images with labels in its own class ids), and the differences of
    every pair at `conf`."""
    analyses = [analyse(ims, names, conf=conf, **options) for ims, names in zip(images, class_names)]
    pairs = [
        differences(models[i], models[j], analyses[i].scores, analyses[j].scores)
        for i, j in combinations(range(len(models)), 2)
    ]
    return ModelsAnalysis(list(models), analyses, pairs)
