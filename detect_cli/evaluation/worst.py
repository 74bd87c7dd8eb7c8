"""The images a model gets most wrong, and the errors that separate two models.

An image's errors are counted at the run's confidence (what a user of `--conf` sees), matched as
COCO matches (`errors.classify`): its labels no true positive took (not found) plus its detections
that are no true positive (false). The worst images have the most; ties go to the one with more
labels not found, then by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.matching import match
from detect_cli.evaluation.errors import ERROR_KINDS, ImageErrors, LabelledImage, above, classify

WORST = 12


@dataclass(frozen=True)
class ImageScore:
    """One image's errors at `conf`: its detections at or above it, its labels, and the verdict on
    them; `index` is its place in the evaluated images."""

    index: int
    name: str
    source: str
    detections: Detections
    truth: Detections
    verdict: ImageErrors

    @property
    def not_found(self) -> int:
        return self.verdict.not_found

    @property
    def false_detections(self) -> int:
        return self.verdict.false_detections

    @property
    def errors(self) -> int:
        return self.not_found + self.false_detections

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.name,
            "source": self.source,
            "errors": self.errors,
            "not_found": self.not_found,
            "false_detections": self.false_detections,
            "true_positives": self.verdict.true_positives,
            **{kind: self.verdict.count(kind) for kind in ERROR_KINDS},
        }


def score_images(images: Sequence[LabelledImage], conf: float) -> list[ImageScore]:
    """Every image's errors at `conf`, in the images' order."""
    scores = []
    for k, image in enumerate(images):
        kept = above(image.detections, conf)
        verdict = classify(kept, image.truth)
        scores.append(ImageScore(k, image.name, image.prediction.source, kept, image.truth, verdict))
    return scores


def worst_images(scores: Sequence[ImageScore], n: int = WORST) -> list[ImageScore]:
    """The `n` images with the most errors (not found + false), most first; none without errors."""
    with_errors = [s for s in scores if s.errors]
    return sorted(with_errors, key=lambda s: (-s.errors, -s.not_found, s.name))[: max(n, 0)]


@dataclass(frozen=True)
class KindDifference:
    """Of one error type: how many errors each model makes and how many of them the other does not."""

    kind: str
    a_errors: int
    a_only: int
    b_errors: int
    b_only: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "a_errors": self.a_errors,
            "a_only": self.a_only,
            "b_errors": self.b_errors,
            "b_only": self.b_only,
        }


@dataclass(frozen=True)
class ImageDifference:
    name: str
    source: str
    a_only: int
    b_only: int
    a_index: int
    b_index: int

    @property
    def differing(self) -> int:
        return self.a_only + self.b_only


@dataclass(frozen=True)
class ModelDifference:
    """What separates model `a` from model `b` on the images both ran, at their confidence."""

    a: str
    b: str
    kinds: list[KindDifference]
    images: list[ImageDifference]  # most differing first, only those that differ

    def as_dict(self, n: int | None = None) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "types": [k.as_dict() for k in self.kinds],
            "images": [
                {"image": i.name, "source": i.source, "a_only": i.a_only, "b_only": i.b_only} for i in self.images[:n]
            ],
        }


def differences(a: str, b: str, a_scores: Sequence[ImageScore], b_scores: Sequence[ImageScore]) -> ModelDifference:
    """Per error type, model a's errors that b does not make and the reverse, over images of the same
    name. An error on a label (cls, loc, both, dupe, missed) is the same error when the other model
    makes one of that type on the same label; a background error, when the other has one within
    IoU 0.5 (any class). Both models' labels must list the same boxes in the same order (they do:
    one label file read for each model's class names)."""
    by_name = {s.name: s for s in b_scores}
    totals = {kind: [0, 0, 0, 0] for kind in ERROR_KINDS}
    images = []
    for sa in a_scores:
        sb = by_name.get(sa.name)
        if sb is None:
            continue
        only_a = only_b = 0
        for kind in ERROR_KINDS:
            na, ka, nb, kb = _one_kind(kind, sa, sb)
            row = totals[kind]
            row[0] += na
            row[1] += ka
            row[2] += nb
            row[3] += kb
            only_a += ka
            only_b += kb
        if only_a or only_b:
            images.append(ImageDifference(sa.name, sa.source, only_a, only_b, sa.index, sb.index))
    images.sort(key=lambda d: (-d.differing, d.name))
    return ModelDifference(a, b, [KindDifference(k, *v) for k, v in totals.items()], images)


def _one_kind(kind: str, a: ImageScore, b: ImageScore) -> tuple[int, int, int, int]:
    """(a's errors, a's that b lacks, b's errors, b's that a lacks) of one type on one image."""
    va, vb = a.verdict, b.verdict
    if kind == "missed":
        ta, tb = Counter(np.flatnonzero(va.missed).tolist()), Counter(np.flatnonzero(vb.missed).tolist())
    elif kind != "bkg":
        ta, tb = Counter(va.target[va.kind == kind].tolist()), Counter(vb.target[vb.kind == kind].tolist())
    else:
        boxes_a, boxes_b = _boxes(va, a.detections, kind), _boxes(vb, b.detections, kind)
        same = len(match(boxes_a, boxes_b, 0.5))
        return len(boxes_a), len(boxes_a) - same, len(boxes_b), len(boxes_b) - same
    return sum(ta.values()), sum((ta - tb).values()), sum(tb.values()), sum((tb - ta).values())


def _boxes(verdict: ImageErrors, dets: Detections, kind: str) -> Detections:
    """The detections of one kind, all as one class (so the match ignores class)."""
    chosen = verdict.order[verdict.kind == kind]
    return Detections(dets.xyxy[chosen], dets.confidence[chosen], np.zeros(len(chosen), np.int64))
