"""The INT8 accuracy gate, on known answers: fake runtimes whose boxes are the FP32 ones, shifted,
missing a class, rescored or slower."""

from __future__ import annotations

import time

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.models.detector import PredictOptions
from detect_cli.models.int8_gate import GATE, check_int8

NAMES = {0: "circle", 1: "square"}
OPTIONS = PredictOptions(imgsz=320)


def _truth(n_images: int = 30) -> list[Detections]:
    """Three boxes an image, classes 0, 1, 0, well apart."""
    out = []
    for i in range(n_images):
        x = 10 + i % 5
        xyxy = np.array([[x, 10, x + 40, 50], [x + 100, 10, x + 140, 50], [x, 120, x + 60, 180]], np.float32)
        out.append(Detections(xyxy, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 1, 0])))
    return out


class Fake:
    """A runtime that answers each image with given boxes (by the image's index), optionally slowly."""

    def __init__(self, answers: list[Detections], delay_s: float = 0.0) -> None:
        self.answers, self.delay_s, self.names = answers, delay_s, NAMES

    def predict(self, images: list[np.ndarray], options: PredictOptions):
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for image in images:
            dets = self.answers[int(image[0, 0, 0])]
            out.append((dets[dets.confidence > options.conf], None))
        return out


def _images(n: int) -> list[np.ndarray]:
    return [np.full((200, 200, 3), i, np.uint8) for i in range(n)]


def _check(int8_answers: list[Detections], truth: list[Detections] | None = None, fp32_delay: float = 0.003):
    answers = _truth()
    return check_int8(
        Fake(answers, fp32_delay),
        Fake(int8_answers),
        _images(len(answers)),
        OPTIONS,
        truth,  # type: ignore[arg-type]
    )


def test_the_same_boxes_faster_pass() -> None:
    check = _check(_truth(), truth=_truth())
    assert check.passed, check.failures()
    assert check.f1 == pytest.approx(1.0) and check.map_change == pytest.approx(0.0) and check.speedup > 1.05
    assert check.summary().startswith("agreement F1 1.000, mAP50-95 +0.000, ")
    assert check.as_dict()["passed"] is True and check.as_dict()["gate"] == GATE


def test_shifted_boxes_are_refused() -> None:
    shifted = [Detections(d.xyxy + 25, d.confidence, d.class_id) for d in _truth()]
    check = _check(shifted)
    assert not check.passed
    assert check.f1 == pytest.approx(0.0) and any("agreement F1" in why for why in check.failures())


def test_a_class_that_is_lost_is_refused_even_where_the_f1_would_pass() -> None:
    answers = _truth()
    lost = [d[d.class_id == 0] if i < 5 else d for i, d in enumerate(answers)]  # square lost on 5 of 30 images
    check = _check(lost)
    assert check.f1 > GATE["min_f1"] - 0.05  # 85 of 90 boxes: about 0.97
    assert check.worst_class == "square" and check.worst_class_kept == pytest.approx(25 / 30)
    assert any("square loses 17% of its boxes (5 of 30)" in why for why in check.failures())


def test_the_class_rule_judges_only_what_its_count_can_tell() -> None:
    """A few boxes lost of a class is chance, not a verdict: one lost of 30 squares (3%) and 2 of 30
    (7%, under the 95% bound) pass; a class under min_class_boxes is named, not judged."""
    answers = _truth()
    for lost_images, passes in ((1, True), (2, True), (5, False)):
        lost = [d[d.class_id == 0] if i < lost_images else d for i, d in enumerate(answers)]
        assert _check(lost).passed is passes, (lost_images, _check(lost).failures())
    few = [d if i < GATE["min_class_boxes"] - 5 else d[d.class_id != 1] for i, d in enumerate(_truth())]
    int8 = [d[d.class_id != 1] if i < 10 else d for i, d in enumerate(few)]  # 10 of 15 squares lost
    check = check_int8(Fake(few, 0.003), Fake(int8), _images(30), OPTIONS)  # type: ignore[arg-type]
    assert check.worst_class == "circle" and check.unjudged == ("square",)
    assert not any("square" in why for why in check.failures())
    assert "not judged per class" in check.summary() and check.as_dict()["unjudged"] == ("square",)


def test_a_score_moved_across_the_threshold_is_no_disagreement() -> None:
    moved = []
    for d in _truth():
        conf = d.confidence.copy()
        conf[2] = GATE["conf"] - 0.02  # FP32 says 0.7; INT8 puts it just under conf
        moved.append(Detections(d.xyxy, conf, d.class_id))
    answers = _truth()
    for d in answers:
        d.confidence[2] = GATE["conf"] + 0.02
    check = check_int8(Fake(answers, 0.003), Fake(moved), _images(30), OPTIONS)  # type: ignore[arg-type]
    assert check.f1 == pytest.approx(1.0) and check.passed, check.failures()


def test_loose_boxes_lose_map_where_labels_say_so() -> None:
    loose = [Detections(d.xyxy + np.array([0, 0, 9, 9], np.float32), d.confidence, d.class_id) for d in _truth()]
    check = _check(loose, truth=_truth())
    assert check.f1 == pytest.approx(1.0)  # still the same objects at IoU 0.5
    assert check.map_change is not None and check.map_change < -GATE["max_map_drop"]
    assert any("mAP50-95" in why for why in check.failures())


def test_not_faster_is_refused_and_too_few_boxes_prove_nothing() -> None:
    slower = check_int8(Fake(_truth()), Fake(_truth(), 0.003), _images(30), OPTIONS)  # type: ignore[arg-type]
    assert slower.f1 == pytest.approx(1.0) and slower.failures() == [f"not faster here ({slower.speedup:.2f}x fp32)"]
    few = [d[:0] for d in _truth()]
    nothing = check_int8(Fake(few, 0.003), Fake(few), _images(30), OPTIONS)  # type: ignore[arg-type]
    assert nothing.failures() == [
        f"FP32 finds 0 boxes on the held-out images, too few to judge (needs {GATE['min_boxes']})"
    ]
