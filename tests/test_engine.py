from __future__ import annotations

from pathlib import Path

import pytest

from detect_cli.engine import detect_stream
from detect_cli.models import PredictOptions
from detect_cli.sources import Source
from tests.conftest import SAMPLES, TEST_IMGSZ

OPTIONS = PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=10)


def sources(tmp_path: Path) -> list[Source]:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("hello, not a jpeg")
    return [
        Source(str(SAMPLES / "bus.jpg"), "bus.jpg"),
        Source(str(empty), "empty.jpg"),
        Source(str(SAMPLES / "bus.jpg"), "bus1.jpg"),  # same shape: mixed shapes in a batch are letterboxed square
        Source("missing.jpg", "missing.jpg", error="no such file or folder"),
        Source(str(text), "text.jpg"),
        Source(str(SAMPLES / "bus.jpg"), "bus2.jpg"),
    ]


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_order_and_error_records_survive_batching(yolo_detector, tmp_path: Path, batch: int) -> None:
    results = list(detect_stream(sources(tmp_path), yolo_detector, OPTIONS, batch=batch))
    assert [r.index for r in results] == list(range(6))
    assert [r.ok for r in results] == [True, False, True, False, False, True]
    assert "empty" in results[1].error and "not an image" in results[4].error
    assert (results[0].width, results[0].height) == (810, 1080)
    assert results[0].detections == results[5].detections  # same image, same answer, whatever the batch


def test_batched_equals_one_by_one(rtdetr_detector, tmp_path: Path) -> None:
    one = list(detect_stream(sources(tmp_path), rtdetr_detector, OPTIONS, batch=1))
    many = list(detect_stream(sources(tmp_path), rtdetr_detector, OPTIONS, batch=3))
    for a, b in zip(one, many, strict=True):
        assert a.detections == b.detections and a.error == b.error


def test_streams_lazily(yolo_detector) -> None:
    """The first result comes out before the source iterator is exhausted."""
    pulled: list[int] = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield Source(str(SAMPLES / "zidane.jpg"), f"z{i}.jpg")
            i += 1

    stream = detect_stream(endless(), yolo_detector, OPTIONS, batch=2)
    first = next(stream)
    assert first.ok and len(pulled) <= 2 + 2 + 1  # one batch, the read-ahead (depth 2), one in flight


def test_model_failure_on_one_image_is_a_record(yolo_detector, monkeypatch: pytest.MonkeyPatch) -> None:
    real = yolo_detector.predict

    def flaky(images, options):
        if any(img.shape[0] == 720 for img in images):  # zidane.jpg
            raise RuntimeError("boom")
        return real(images, options)

    monkeypatch.setattr(yolo_detector, "predict", flaky)
    items = [Source(str(SAMPLES / n), n) for n in ("bus.jpg", "zidane.jpg", "bus.jpg")]
    results = list(detect_stream(items, yolo_detector, OPTIONS, batch=3))
    assert [r.ok for r in results] == [True, False, True]
    assert "boom" in results[1].error


def test_failed_inputs_are_not_held_back(yolo_detector, tmp_path: Path) -> None:
    """A long run of bad files streams out as it goes instead of waiting for a good image."""
    pulled: list[int] = []

    def bad_forever():
        i = 0
        while True:
            pulled.append(i)
            yield Source(f"missing-{i}.jpg", f"missing-{i}.jpg", error="no such file or folder")
            i += 1

    first = next(detect_stream(bad_forever(), yolo_detector, OPTIONS, batch=4))
    assert not first.ok and len(pulled) <= 4 + 2  # out before the stream ran past the read-ahead
