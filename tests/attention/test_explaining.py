"""`detect --attention`: one hooked pass per image gives the detections and the maps
(`attention.explaining.ExplainingDetector`), the boxes those of a plain prediction."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.attention import explaining
from detect_cli.attention.explaining import ExplainingDetector
from detect_cli.attention.run import ImageAttention
from detect_cli.core.errors import ModelFailed
from detect_cli.models.detector import PredictOptions
from detect_cli.pipeline.failures import REPEATS
from tests.conftest import SAMPLES, TEST_IMGSZ

OPTIONS = PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=4)
BUS, ZIDANE = (cv2.imread(str(SAMPLES / n)) for n in ("bus.jpg", "zidane.jpg"))


def counting(monkeypatch: pytest.MonkeyPatch, detector) -> list[int]:
    """Images the detector's own `predict` is asked about, call by call."""
    calls: list[int] = []
    real = detector.predict

    def predict(images, options):
        calls.append(len(images))
        return real(images, options)

    monkeypatch.setattr(detector, "predict", predict)
    return calls


@pytest.mark.slow  # the detector comes by name (getfixturevalue): conftest cannot see it
@pytest.mark.parametrize("family", ["yolo", "rtdetr"])
def test_one_hooked_pass_gives_the_boxes_of_a_plain_prediction(request, monkeypatch, family: str) -> None:
    detector = request.getfixturevalue(f"{family}_detector")
    plain = [d for d, _ in detector.predict([BUS, ZIDANE], OPTIONS)]
    # a batch of two shapes runs one shape at a time (at their own aspects for YOLO): the boxes of one by one
    assert plain == [detector.predict([image], OPTIONS)[0][0] for image in (BUS, ZIDANE)]
    calls = counting(monkeypatch, detector)
    wrapped = ExplainingDetector(detector)
    outputs = wrapped.predict([BUS, ZIDANE], OPTIONS)
    hooked_passes = [1, 1] if family == "yolo" else [2]  # YOLO: one hooked pass per shape, at its own aspect
    assert calls == hooked_passes
    for (detections, timing), expected, image in zip(outputs, plain, (BUS, ZIDANE), strict=True):
        assert detections == expected and len(detections) == 4 and timing.inference > 0
        explained = wrapped.judge(detections, image, "img.jpg")
        assert isinstance(explained, ImageAttention) and explained.detections == detections
        assert len(explained.maps["attention"]) == 4
    assert calls == hooked_passes  # the maps came with the boxes: judging them runs nothing


def test_an_image_without_maps_keeps_its_boxes_and_says_why(yolo_detector, monkeypatch) -> None:
    """The maps of one image of a batch fail (here: undoing the letterbox of zidane.jpg): its detections
    still come from the hooked prediction, the others' maps are made, and `judge` says why."""
    from detect_cli.attention import capture

    real = capture.unletterbox

    def fails_on_zidane(heat, orig_hw, out_hw=None):
        if orig_hw == ZIDANE.shape[:2]:
            raise ValueError("operands could not be broadcast together")
        return real(heat, orig_hw, out_hw)

    monkeypatch.setattr(capture, "unletterbox", fails_on_zidane)
    wrapped = ExplainingDetector(yolo_detector)
    outputs = wrapped.predict([BUS, ZIDANE], OPTIONS)
    assert [d for d, _ in outputs] == [d for d, _ in yolo_detector.predict([BUS, ZIDANE], OPTIONS)]
    (bus, _), (zidane, _) = outputs
    assert isinstance(wrapped.judge(bus, BUS, "bus.jpg"), ImageAttention)
    assert wrapped.judge(zidane, ZIDANE, "zidane.jpg") == "ValueError: operands could not be broadcast together"


@pytest.mark.parametrize("on_blank", [True, False])
def test_maps_failing_on_every_image_stop_the_run(yolo_detector, monkeypatch, on_blank: bool) -> None:
    """Maps that fail on a blank image too, or the same way on REPEATS images in a row, fail for a reason
    that is not the images': ModelFailed, not a warning per image."""
    real_images, real_image = explaining.explain_images, explaining.explain_image

    def no_maps(detector, images, options):
        return [(d, t, IndexError("index 4 is out of bounds")) for d, t, _ in real_images(detector, images, options)]

    def blank_probe(detector, image, options, **kwargs):
        if on_blank:
            raise IndexError("index 4 is out of bounds")
        return real_image(detector, image, options, **kwargs)

    monkeypatch.setattr(explaining, "explain_images", no_maps)
    monkeypatch.setattr(explaining, "explain_image", blank_probe)
    wrapped = ExplainingDetector(yolo_detector)
    images = [BUS.copy() for _ in range(REPEATS)]
    outputs = [d for d, _ in wrapped.predict(images, OPTIONS)]
    if on_blank:
        with pytest.raises(ModelFailed, match=r"bus\.jpg and on a blank image too.*IndexError"):
            wrapped.judge(outputs[0], images[0], "bus.jpg")
        return
    for detections, image in zip(outputs[:-1], images[:-1]):
        assert "IndexError" in wrapped.judge(detections, image, "bus.jpg")
    with pytest.raises(ModelFailed, match=r"in a row.*IndexError"):
        wrapped.judge(outputs[-1], images[-1], "bus.jpg")


def test_maps_travel_with_their_detections_and_leave_with_the_pixels(yolo_detector) -> None:
    """No side channel: the maps are the detections' own metadata, kept by indexing and tracking,
    so nothing is held for images that never became results (a probe, a retried batch)."""
    wrapped = ExplainingDetector(yolo_detector)
    ((detections, _),) = wrapped.predict([BUS], OPTIONS)
    explained = detections.metadata["attention"]
    assert isinstance(explained, ImageAttention) and explained.detections == detections
    assert detections[:2].metadata["attention"] is explained
    assert detections.with_tracks(np.arange(len(detections))).metadata["attention"] is explained
    assert "attention" not in detections.with_metadata(attention=None).metadata
    assert not hasattr(wrapped, "_kept")


def test_detect_job_predicts_once_per_image_with_attention(yolo_detector, monkeypatch, tmp_path: Path) -> None:
    from detect_cli.core.settings import load_settings
    from detect_cli.inputs.sources import Source
    from detect_cli.tasks.detect import DetectJob

    settings = replace(
        load_settings(None, {"model": "yolo26n.yaml", "conf": 0.0, "max_det": 4, "imgsz": TEST_IMGSZ, "batch": 2}),
        backend="torch",
    )
    # the two of one shape share a batch: YOLO runs each picture at its own aspect (one pass per shape)
    sources = [Source(str(SAMPLES / n), n) for n in ("bus.jpg", "bus.jpg", "zidane.jpg")]
    plain = DetectJob(settings, yolo_detector, save_dir=tmp_path / "plain")
    plain.run(sources, on_result=(without := []).append)
    calls = counting(monkeypatch, yolo_detector)
    job = DetectJob(settings, yolo_detector, save_dir=tmp_path / "att", attention=True)
    summary = job.run(sources, on_result=(withit := []).append)
    assert calls == [2, 1]  # batches of 2: was 2 + 1 + 1 + 1 (the engine's batch, then a hooked pass per image)
    assert [r.detections for r in withit] == [r.detections for r in without]
    assert all(r.ok and not r.warnings for r in withit) and summary.images == 3
    assert all("attention" not in r.detections.metadata for r in withit)  # the maps leave with the pixels
    folders = sorted(p.name for p in (tmp_path / "att").iterdir() if p.is_dir())
    assert folders == ["bus_1_attention", "bus_attention", "zidane_attention"]
    assert all(len(list((tmp_path / "att" / f).glob("*.jpg"))) == 5 for f in folders)  # whole image + 4 boxes
