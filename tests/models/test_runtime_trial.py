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


class Finds:
    """A model that finds `n` boxes on every image (enough of a detector for the reference)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, images, options):
        from detect_cli.core.detections import Detections
        from detect_cli.core.results import Timing

        xyxy = np.array([[10 * i, 10, 10 * i + 8, 18] for i in range(self.n)], np.float32).reshape(-1, 4)
        return [(Detections(xyxy, np.full(self.n, 0.9, np.float32), np.zeros(self.n, np.int64)), Timing())] * len(
            images
        )


@pytest.mark.parametrize(
    ("boxes", "own", "kept", "outcome"),
    [
        (6, True, True, {}),  # refused on the run's own images: cached with its reason
        (6, False, False, {}),  # refused on Ultralytics' photos, not the model's kind: the next run checks again
        (0, True, False, {}),  # too little to compare: decides nothing that lasts
        (6, True, False, {"passed": True, "speedup": 1.0}),  # "not faster", timed on 3 pictures: not kept
    ],
)
def test_only_a_refusal_on_the_models_own_kind_of_images_is_kept(
    boxes: int, own: bool, kept: bool, outcome: dict, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detect_cli.models import runtime_trial
    from detect_cli.models.check_images import CheckImages
    from detect_cli.models.runtime_request import RuntimeRequest

    monkeypatch.setattr(
        runtime_trial,
        "try_runtime",
        lambda *a, **k: {"runtime": "openvino", "passed": False, "speedup": 0.0, "summary": "openvino", **outcome},
    )
    images = [np.zeros((64, 64, 3), np.uint8)] * 3
    check = CheckImages(images, "3 of the run's images" if own else "samples", own)
    request = RuntimeRequest(detector=Finds(boxes), options=PredictOptions(imgsz=64), check=lambda _: check)  # type: ignore[arg-type]
    entry = tmp_path / "entry"
    decision = runtime_trial.decide(request, ("openvino",), entry, forced=False)
    assert decision.backend == "torch" and (entry / "decision.json").exists() is kept
    assert decision.checked_on == check.source and not decision.cached
