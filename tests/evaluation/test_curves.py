"""PR and F1 curves: monotone where they must be, and the same numbers as evaluate's table."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.evaluation.curves import CONFIDENCE_GRID, f1_curves, pr_curves
from detect_cli.evaluation.errors import classify
from detect_cli.evaluation.labels import Labels
from detect_cli.evaluation.metrics import evaluate
from tests.evaluation.synthetic import NAMES, boxes, labelled, random_images


def verdicts(images):
    return [classify(im.detections, im.truth) for im in images]


def labels_of(images) -> Labels:
    return Labels({im.name: im.truth for im in images}, NAMES)


@pytest.mark.parametrize("seed", range(4))
def test_pr_curves_are_cocos_so_their_means_are_the_tables_map50(seed: int) -> None:
    images = random_images(seed)
    pr = pr_curves(images, NAMES)
    report = evaluate([im.prediction for im in images], labels_of(images))
    table = {c.name: c.map50 for c in report.classes if c.instances}
    assert {c.name: c.ap for c in pr.classes} == pytest.approx(table)
    assert pr.overall is not None and pr.overall.ap == pytest.approx(report.overall.map50)
    for curve in [*pr.classes, pr.overall]:
        assert np.all(np.diff(curve.precision) <= 1e-12), curve.name  # interpolated: never rises with recall
        assert curve.recall[0] == 0 and curve.recall[-1] == 1 and len(curve.recall) == 101
    for curve in pr.classes:  # the confidence a recall needs falls as recall grows (0 once out of reach)
        reached = curve.confidence[curve.confidence > 0]
        assert np.all(np.diff(reached) <= 1e-6), curve.name


@pytest.mark.parametrize("seed", range(4))
def test_recall_never_falls_as_the_threshold_falls_and_the_best_f1_is_the_best(seed: int) -> None:
    images = random_images(seed)
    f1 = f1_curves(images, verdicts(images), NAMES)
    for curve in [*f1.classes, f1.overall]:
        assert np.all(np.diff(curve.recall) <= 1e-12), curve.name  # along rising confidence
        assert curve.best_f1 >= curve.f1.max() - 1e-12
        assert curve.best_f1 == pytest.approx(
            2 * curve.best_precision * curve.best_recall / (curve.best_precision + curve.best_recall)
        )
    assert f1.overall.confidence.tolist() == CONFIDENCE_GRID.tolist()


def test_f1_at_a_threshold_is_the_tables_precision_and_recall_there() -> None:
    images = random_images(7)
    f1 = f1_curves(images, verdicts(images), NAMES).overall
    for conf in (0.3, 0.5):
        report = evaluate([im.prediction for im in images], labels_of(images), conf=conf)
        k = round(conf * 100)
        assert f1.precision[k] == pytest.approx(report.overall.precision, abs=0.02)
        assert f1.recall[k] == pytest.approx(report.overall.recall, abs=0.02)


def test_the_best_threshold_on_a_known_case() -> None:
    # two labels; a true positive at 0.9, a false one at 0.6, the second true positive at 0.4
    truth = boxes([(0, 0, 50, 50, 0), (100, 100, 150, 150, 0)])
    dets = boxes([(0, 0, 50, 50, 0), (300, 300, 350, 350, 0), (100, 100, 150, 150, 0)], [0.9, 0.6, 0.4])
    images = [labelled(truth, dets)]
    best = f1_curves(images, verdicts(images), NAMES).overall
    assert best.best_conf == pytest.approx(0.4) and best.best_f1 == pytest.approx(0.8)  # P 2/3, R 1
    assert best.f1[85] == pytest.approx(2 / 3) and best.f1[95] == 0.0  # conf >= 0.85: P 1, R 0.5; above: none


def test_no_labels_no_curves_and_no_detections_flat_zero() -> None:
    assert pr_curves([labelled(Detections.empty(), boxes([(0, 0, 5, 5, 0)]))], NAMES).overall is None
    images = [labelled(boxes([(0, 0, 50, 50, 0)]), Detections.empty())]
    pr = pr_curves(images, NAMES)
    assert pr.overall is not None and pr.overall.ap == 0.0
    f1 = f1_curves(images, verdicts(images), NAMES)
    assert f1.overall.best_f1 == 0.0 and not f1.overall.f1.any()
