"""The first run's check: PyTorch's boxes computed once and replayed for every threshold the check asks for."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.demo.scenes import make_scene
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.lookup import resolve_model
from detect_cli.models.runtime_trial import GATE, WEAK, Replayed

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
def test_replayed_boxes_are_those_of_a_run_at_that_threshold(spec: str) -> None:
    detector = load_detector(resolve_model(spec), device="cpu")
    images = [make_scene(np.random.default_rng([21, i]))[0] for i in range(3)]
    options = PredictOptions(imgsz=320)
    replayed = Replayed(detector, images, options)
    assert replayed.floor == pytest.approx(WEAK["conf"] - WEAK["margin"]) and replayed.ms > 0
    for conf in (replayed.floor, WEAK["conf"], GATE["conf"] - GATE["margin"], GATE["conf"]):
        for image, (dets, _) in zip(images, replayed.predict(images, PredictOptions(conf=conf, imgsz=320))):
            ((direct, _),) = detector.predict([image], PredictOptions(conf=conf, imgsz=320))
            assert np.array_equal(dets.xyxy, direct.xyxy) and np.array_equal(dets.class_id, direct.class_id)
    with pytest.raises(ValueError, match="replayed at conf"):
        replayed.predict(images, PredictOptions(conf=0.01, imgsz=320))
