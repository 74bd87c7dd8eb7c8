"""TIDE's verdict per detection (`errors.classify`), and the pairing of predictions with their labels."""

from __future__ import annotations

import pytest

from detect_cli.core.detections import Detections
from detect_cli.evaluation.errors import classify, classify_all, pair_up
from detect_cli.evaluation.labels import Labels
from tests.evaluation.synthetic import NAMES, boxes, labelled

A = (100, 100, 200, 200)  # class 0
B = (300, 300, 400, 400)  # class 1
TRUTH = boxes([(*A, 0), (*B, 1)])


@pytest.mark.parametrize(
    ("rows", "kinds"),
    [
        ([(*A, 0)], ["tp"]),
        ([(100, 100, 200, 300, 0)], ["tp"]),  # IoU exactly 0.5: TIDE (and COCO) take it
        ([(100, 100, 200, 301, 0)], ["loc"]),  # just under 0.5
        ([(100, 100, 200, 1100, 0)], ["loc"]),  # IoU exactly 0.1: still its object
        ([(100, 100, 200, 1101, 0)], ["bkg"]),  # just under 0.1, and nothing else near
        ([(*A, 1)], ["cls"]),
        ([(*A, 0), (*A, 0)], ["tp", "dupe"]),
        ([(*A, 0), (*A, 1)], ["tp", "cls"]),  # wrong class on a found label: cls comes before dupe, as in TIDE
        ([(150, 150, 250, 250, 1)], ["both"]),
        ([(420, 0, 480, 60, 0)], ["bkg"]),
    ],
)
def test_each_detection_gets_tides_verdict(rows, kinds) -> None:
    assert classify(boxes(rows), TRUTH).kind.tolist() == kinds


def test_the_most_confident_detection_takes_the_label() -> None:
    dets = boxes([(102, 102, 200, 200, 0), (*A, 0)], [0.5, 0.9])  # the better box is the more confident one
    verdict = classify(dets, TRUTH)
    assert verdict.order.tolist() == [1, 0] and verdict.kind.tolist() == ["tp", "dupe"]
    assert (verdict.true_positives, verdict.false_detections, verdict.not_found) == (1, 1, 1)
    assert verdict.count("dupe") == 1 and verdict.count("missed") == 1


def test_predictions_are_paired_with_their_labels_and_the_unlabelled_left_out() -> None:
    seen = labelled(TRUTH, boxes([(*A, 0)]), "a.jpg")
    unseen = labelled(TRUTH, Detections.empty(), "elsewhere.jpg")
    labels = Labels({"a.jpg": TRUTH}, NAMES)
    (pair,) = pair_up([seen.prediction, unseen.prediction], labels)
    assert pair.name == "a.jpg" and pair.truth is TRUTH and pair.detections is seen.detections


def test_classify_all_counts_only_detections_at_the_threshold() -> None:
    image = labelled(TRUTH, boxes([(*A, 0), (*B, 1)], [0.9, 0.2]))
    (high,) = classify_all([image], conf=0.5)
    (low,) = classify_all([image])
    assert high.true_positives == 1 and low.true_positives == 2
