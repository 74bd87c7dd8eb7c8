"""The worst images are ordered by their stated measure; what separates two models is counted per type."""

from __future__ import annotations

import pytest

from detect_cli.core.detections import Detections
from detect_cli.evaluation.worst import differences, score_images, worst_images
from tests.evaluation.synthetic import boxes, labelled, random_images

A = (100, 100, 200, 200)
B = (300, 300, 400, 400)
EMPTY = (420, 0, 480, 60)
TRUTH = boxes([(*A, 0), (*B, 1)])


@pytest.mark.parametrize("n", [0, 3, 12, 100])
def test_the_worst_images_are_ordered_by_labels_not_found_plus_false_detections(n: int) -> None:
    scores = score_images(random_images(5), conf=0.3)
    worst = worst_images(scores, n)
    assert len(worst) == min(n, sum(s.errors > 0 for s in scores))
    keys = [(-s.errors, -s.not_found, s.name) for s in worst]
    assert keys == sorted(keys)
    if worst and len(worst) < len(scores):  # nothing left out is worse than the last one kept
        left_out = [s for s in scores if s not in worst]
        assert max(s.errors for s in left_out) <= worst[-1].errors
    for s in worst:
        assert s.errors == s.verdict.not_found + s.verdict.false_detections > 0
        assert (s.detections.confidence >= 0.3).all()


def test_an_images_errors_count_only_detections_at_the_threshold() -> None:
    dets = boxes([(*A, 0), (*B, 1), (*EMPTY, 0)], [0.9, 0.2, 0.1])
    (at_high,) = score_images([labelled(TRUTH, dets)], conf=0.5)
    assert (at_high.not_found, at_high.false_detections, at_high.verdict.true_positives) == (1, 0, 1)
    (at_low,) = score_images([labelled(TRUTH, dets)], conf=0.0)
    assert (at_low.not_found, at_low.false_detections) == (0, 1)
    assert at_low.as_dict()["bkg"] == 1


def test_what_one_model_gets_wrong_and_the_other_does_not() -> None:
    # model a: misses B, relabels A, and has a box on the background; model b: finds both, the same background box
    a = [labelled(TRUTH, boxes([(*A, 1), (*EMPTY, 0)]), "x.jpg"), labelled(TRUTH, boxes([(*A, 0), (*B, 1)]), "y.jpg")]
    b = [
        labelled(TRUTH, boxes([(*A, 0), (*B, 1), (421, 1, 480, 60, 1)]), "x.jpg"),
        labelled(TRUTH, boxes([(*A, 0)]), "y.jpg"),
    ]
    diff = differences("a", "b", score_images(a, 0.0), score_images(b, 0.0))
    kinds = {k.kind: (k.a_errors, k.a_only, k.b_errors, k.b_only) for k in diff.kinds}
    assert kinds["cls"] == (1, 1, 0, 0)
    assert kinds["missed"] == (1, 1, 1, 1)  # a misses B in x, b misses B in y: different labels
    assert kinds["bkg"] == (1, 0, 1, 0)  # the same stray box (another class): the same error
    assert [(i.name, i.a_only, i.b_only) for i in diff.images] == [("x.jpg", 2, 0), ("y.jpg", 0, 1)]


def test_images_only_one_model_ran_are_left_out() -> None:
    a = [labelled(TRUTH, Detections.empty(), "x.jpg")]
    b = [labelled(TRUTH, Detections.empty(), "z.jpg")]
    diff = differences("a", "b", score_images(a, 0.0), score_images(b, 0.0))
    assert diff.images == [] and all(k.a_errors == 0 for k in diff.kinds)
