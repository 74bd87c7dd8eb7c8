"""The confusion matrix: every label and detection counted once, the diagonal evaluate's true positives."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.evaluation.confusion import confusion_matrix
from detect_cli.evaluation.labels import Labels
from detect_cli.evaluation.metrics import evaluate
from tests.evaluation.synthetic import NAMES, boxes, labelled, random_images


@pytest.mark.parametrize(("seed", "conf", "iou"), [(0, 0.25, 0.5), (1, 0.5, 0.5), (2, 0.1, 0.3), (3, 0.0, 0.7)])
def test_cells_sum_to_matched_missed_and_false_at_its_threshold(seed: int, conf: float, iou: float) -> None:
    images = random_images(seed)
    matrix = confusion_matrix(images, NAMES, conf, iou)
    kept = [im.detections[im.detections.confidence >= conf] for im in images]
    labels = sum(len(im.truth) for im in images)
    detections = sum(len(d) for d in kept)
    assert matrix.counts.sum() == matrix.matched + matrix.missed + matrix.false_detections
    assert matrix.matched + matrix.missed == labels  # each label once
    assert matrix.matched + matrix.false_detections == detections  # each detection once
    assert matrix.counts[-1, -1] == 0
    ids = sorted({int(c) for im in images for c in im.truth.class_id} | {int(c) for d in kept for c in d.class_id})
    assert matrix.names == [NAMES[c] for c in ids]
    for k, c in enumerate(ids):  # rows are labels, columns predictions
        assert matrix.counts[k].sum() == sum(int((im.truth.class_id == c).sum()) for im in images)
        assert matrix.counts[:, k].sum() == sum(int((d.class_id == c).sum()) for d in kept)
    normalised = matrix.normalised()
    sums = normalised.sum(axis=1)
    assert np.allclose(sums[matrix.counts.sum(axis=1) > 0], 1.0)


@pytest.mark.parametrize("seed", range(3))
def test_the_diagonal_is_the_true_positives_of_evaluates_precision_and_recall(seed: int) -> None:
    images = random_images(seed)
    report = evaluate([im.prediction for im in images], Labels({im.name: im.truth for im in images}, NAMES), 0.3)
    matrix = confusion_matrix(images, NAMES, 0.3, 0.5)
    diagonal = dict(zip(matrix.names, np.diag(matrix.counts)[:-1].tolist()))
    assert diagonal == {c.name: c.true_positives for c in report.classes}


def test_a_relabelled_box_lands_off_the_diagonal_and_a_stray_one_in_the_background_row() -> None:
    truth = boxes([(0, 0, 50, 50, 0), (100, 100, 150, 150, 1), (200, 200, 250, 250, 1)])
    dets = boxes([(1, 1, 50, 50, 0), (100, 100, 150, 150, 2), (400, 400, 450, 450, 1)])
    matrix = confusion_matrix([labelled(truth, dets)], NAMES, 0.0, 0.5)
    assert matrix.names == ["circle", "square", "triangle"]
    assert matrix.counts.tolist() == [
        [1, 0, 0, 0],  # the circle found
        [0, 0, 1, 1],  # one square called a triangle, one missed
        [0, 0, 0, 0],
        [0, 1, 0, 0],  # a square on nothing
    ]
    assert (matrix.matched, matrix.missed, matrix.false_detections) == (2, 1, 1)
    assert matrix.as_dict()["names"][-1] == "background"
