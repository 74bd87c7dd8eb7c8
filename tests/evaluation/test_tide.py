"""TIDE's error types on cases with known answers, and the same dAPs as the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.evaluation.errors import ERROR_KINDS, classify
from detect_cli.evaluation.tide import tide
from tests.evaluation.synthetic import boxes, labelled, random_images

CIRCLE, SQUARE = 0, 1
A = (100, 100, 200, 200)  # a circle's label
B = (300, 300, 400, 400)  # a square's label
TRUTH = boxes([(*A, CIRCLE), (*B, SQUARE)])
AWAY = (150, 150, 250, 250)  # IoU 0.14 with A: off its object, not on background
EMPTY = (420, 0, 480, 60)  # touches no label


def verdict(rows, conf=None):
    return classify(boxes(rows, conf), TRUTH)


def only_gain(report, kind: str) -> None:
    """Fixing `kind` gains AP; fixing any other type gains nothing."""
    assert report.dap[kind] > 0.01, report
    assert all(report.dap[k] == 0.0 for k in ERROR_KINDS if k != kind), report


def test_perfect_detections_are_true_positives_and_leave_nothing_to_fix() -> None:
    found = verdict([(*A, CIRCLE), (*B, SQUARE)])
    assert found.kind.tolist() == ["tp", "tp"] and found.matched.all() and not found.missed.any()
    report = tide([labelled(TRUTH, boxes([(*A, CIRCLE), (*B, SQUARE)]))])
    assert report.ap50 == 1.0 and set(report.dap.values()) == {0.0}


def test_a_detection_moved_off_its_object_turns_into_a_localisation_error() -> None:
    assert verdict([(*A, CIRCLE)]).kind.tolist() == ["tp"]
    moved = verdict([(*AWAY, CIRCLE)])
    assert moved.kind.tolist() == ["loc"] and moved.target.tolist() == [0]
    assert moved.missed.tolist() == [False, True]  # A is not missed (fixing the box finds it); B is
    # the moved circle outranks the square's true positive; fixing it restores AP 1
    report = tide([labelled(TRUTH, boxes([(*AWAY, CIRCLE), (*B, SQUARE)]))])
    only_gain(report, "loc")
    assert report.ap50 + report.dap["loc"] == pytest.approx(1.0)


def test_a_relabelled_detection_turns_into_a_classification_error() -> None:
    relabelled = verdict([(*A, SQUARE)])
    assert relabelled.kind.tolist() == ["cls"] and relabelled.target.tolist() == [0]
    report = tide([labelled(TRUTH, boxes([(*A, SQUARE), (*B, SQUARE)]))])
    only_gain(report, "cls")
    assert report.ap50 + report.dap["cls"] == pytest.approx(1.0)  # fixed, it is the circle's true positive


def test_a_second_box_on_a_found_object_is_a_duplicate() -> None:
    truth = boxes([(*A, CIRCLE), (*B, CIRCLE)])
    dets = boxes([(*A, CIRCLE), (102, 98, 201, 203, CIRCLE), (*B, CIRCLE)], [0.9, 0.8, 0.7])
    found = classify(dets, truth)
    assert found.kind.tolist() == ["tp", "dupe", "tp"] and found.target.tolist() == [0, 0, 1]
    report = tide([labelled(truth, dets)])
    only_gain(report, "dupe")
    # TP, FP, TP: precision 1 up to recall 0.5 (51 of 101 points), then 2/3
    assert report.ap50 == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert report.dap["dupe"] == pytest.approx(1 - report.ap50)


def test_a_box_on_the_background_is_a_background_error() -> None:
    found = verdict([(*EMPTY, CIRCLE), (*A, CIRCLE), (*B, SQUARE)])
    assert found.kind.tolist() == ["bkg", "tp", "tp"] and found.target[0] == -1
    only_gain(tide([labelled(TRUTH, boxes([(*EMPTY, CIRCLE), (*A, CIRCLE), (*B, SQUARE)]))]), "bkg")


def test_a_wrong_class_off_its_object_is_both() -> None:
    found = verdict([(*AWAY, SQUARE), (*A, CIRCLE), (*B, SQUARE)])
    assert found.kind.tolist() == ["both", "tp", "tp"]
    only_gain(tide([labelled(TRUTH, boxes([(*AWAY, SQUARE), (*A, CIRCLE), (*B, SQUARE)]))]), "both")


def test_a_label_nothing_comes_near_is_missed() -> None:
    found = verdict([(*B, SQUARE)])
    assert found.kind.tolist() == ["tp"] and found.missed.tolist() == [True, False]
    truth = boxes([(*A, CIRCLE), (*EMPTY, CIRCLE)])
    report = tide([labelled(truth, boxes([(*A, CIRCLE)]))])
    assert report.counts == {"cls": 0, "loc": 0, "both": 0, "dupe": 0, "bkg": 0, "missed": 1}
    only_gain(report, "missed")
    assert report.ap50 == pytest.approx(51 / 101)  # recall 0.5 at precision 1; dropping the missed label: AP 1
    assert report.dap["missed"] == pytest.approx(50 / 101)


def test_only_the_most_confident_error_on_a_label_is_fixed_and_none_on_a_found_label() -> None:
    two = verdict([(*AWAY, CIRCLE), (*A, SQUARE)], [0.9, 0.8])
    assert two.kind.tolist() == ["loc", "cls"] and two.fixes.tolist() == [True, False]
    found_already = verdict([(*A, CIRCLE), (*A, SQUARE)])
    assert found_already.kind.tolist() == ["tp", "cls"] and found_already.fixes.tolist() == [False, False]


def test_an_image_without_labels_has_only_background_errors_and_one_without_detections_only_misses() -> None:
    no_labels = classify(boxes([(*A, CIRCLE)]), boxes([]))
    assert no_labels.kind.tolist() == ["bkg"]
    nothing = classify(boxes([]), TRUTH)
    assert nothing.missed.tolist() == [True, True] and len(nothing.kind) == 0


def test_max_dets_keeps_the_most_confident() -> None:
    dets = boxes([(*EMPTY, CIRCLE), (*A, CIRCLE), (*B, SQUARE)], [0.1, 0.9, 0.5])
    assert classify(dets, TRUTH, max_dets=2).order.tolist() == [1, 2]


@pytest.mark.parametrize("seed", range(6))
def test_the_same_daps_as_the_reference_implementation(seed: int) -> None:
    tidecv = pytest.importorskip("tidecv", reason="the reference TIDE (pip install tidecv: the test extra)")
    images = random_images(seed)
    mine = tide(images)
    gt, pr = tidecv.Data("gt"), tidecv.Data("pr")
    for i, image in enumerate(images):
        gt.add_image(i, image.name)
        for data, dets in ((gt, image.truth), (pr, image.detections)):
            for box, score, cls in dets:
                xywh = [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]
                if data is gt:
                    gt.add_ground_truth(i, cls, xywh)
                else:
                    pr.add_detection(i, cls, score, xywh)
    reference = tidecv.TIDE()
    run = reference.evaluate(gt, pr, mode=tidecv.TIDE.BOX)
    theirs = reference.get_main_errors()["pr"]
    short = {"cls": "Cls", "loc": "Loc", "both": "Both", "dupe": "Dupe", "bkg": "Bkg", "missed": "Miss"}
    assert mine.ap50 * 100 == pytest.approx(run.ap, abs=0.01)
    for kind in ERROR_KINDS:
        assert mine.dap[kind] * 100 == pytest.approx(theirs[short[kind]], abs=0.01), kind  # TIDE's dAP is x100
    assert {short[k]: mine.counts[k] for k in ERROR_KINDS} == {e.short_name: n for e, n in run.count_errors().items()}
    assert sum(mine.counts.values()) > 20 and min(mine.dap.values()) >= 0 and max(mine.dap.values()) > 0.01
    assert np.isfinite(list(mine.dap.values())).all()
