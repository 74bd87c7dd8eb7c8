from __future__ import annotations

import _thread
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.inputs.sources import Source
from detect_cli.models.detector import PredictOptions
from detect_cli.pipeline.engine import detect_stream, prefetched
from tests.conftest import SAMPLES, TEST_IMGSZ
from tests.helpers import watch_budget_peak

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
    """Random weights score every query alike, so the comparison is made at one fixed torch thread
    count (earlier tests change it, and a reduction in another order can swap near-tied queries) and
    to float precision rather than bit for bit."""
    from detect_cli.models.ultralytics_env import set_torch_threads

    set_torch_threads(1)
    try:
        one = list(detect_stream(sources(tmp_path), rtdetr_detector, OPTIONS, batch=1))
        many = list(detect_stream(sources(tmp_path), rtdetr_detector, OPTIONS, batch=3))
    finally:
        set_torch_threads(0)
    for a, b in zip(one, many, strict=True):
        assert a.error == b.error and len(a.detections) == len(b.detections)
        assert np.array_equal(a.detections.class_id, b.detections.class_id)
        assert np.allclose(a.detections.xyxy, b.detections.xyxy, atol=1e-3)
        assert np.allclose(a.detections.confidence, b.detections.confidence, atol=1e-5)


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


class FakeDetector:
    """Just enough of a `Detector` for the engine's bookkeeping: records the size of every batch."""

    def __init__(self) -> None:
        self.names = {0: "thing"}
        self.batches: list[int] = []

    def predict(self, images, options):
        self.batches.append(len(images))
        return [(Detections.empty(), Timing()) for _ in images]


def test_bytes_in_flight_are_bounded_whatever_the_batch(monkeypatch: pytest.MonkeyPatch):
    """bus.jpg is 810x1080x3 = 2.6 MB decoded: with 6 MB allowed, a batch of 8 is cut after 3 images,
    and the reader never holds more than the budget plus one image."""
    one = 810 * 1080 * 3
    peak = watch_budget_peak(monkeypatch)
    detector = FakeDetector()
    items = [Source(str(SAMPLES / "bus.jpg"), f"bus{i}.jpg") for i in range(7)]
    results = list(detect_stream(items, detector, OPTIONS, batch=8, max_bytes_in_flight=6_000_000))
    assert [r.index for r in results] == list(range(7)) and all(r.ok for r in results)
    assert detector.batches == [3, 3, 1]
    assert 2 * one < peak() <= 6_000_000 + one
    detector.batches.clear()
    list(detect_stream(items, detector, OPTIONS, batch=8))  # the default budget (1 GiB) cuts nothing here
    assert detector.batches == [7]


def test_a_huge_image_still_goes_through_a_small_budget():
    detector = FakeDetector()
    items = [Source(str(SAMPLES / "bus.jpg"), f"bus{i}.jpg") for i in range(3)]
    results = list(detect_stream(items, detector, OPTIONS, batch=2, max_bytes_in_flight=1))
    assert all(r.ok for r in results) and detector.batches == [1, 1, 1]


def test_ctrl_c_is_not_held_up_by_a_blocked_reader():
    """The reader is stuck (a slow download, a device): KeyboardInterrupt still ends the stream at once."""
    release = threading.Event()
    entered = threading.Event()

    def stuck(item: int) -> int:
        if item == 1:
            entered.set()
            release.wait(30)
        return item

    stream = prefetched(iter(range(5)), stuck, depth=2)
    assert next(stream) == 0
    assert entered.wait(5)
    # interrupt_main does nothing while SIGINT is ignored (as a shell may start the test run): Python's
    # own handler, as a terminal's Ctrl-C finds it, for the length of the test
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.3, _thread.interrupt_main).start()  # what Ctrl-C does to the main thread
        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            next(stream)
        assert time.perf_counter() - start < 2.5  # "within a second or two", also on a loaded machine
    finally:
        signal.signal(signal.SIGINT, before)
    worker = next(t for t in threading.enumerate() if t.name == "attn-detect-read" and t.is_alive())
    assert worker.daemon  # never joined: the interpreter may exit while it is still stuck
    release.set()


def test_reader_exceptions_reach_the_consumer():
    def boom(item: int) -> int:
        if item == 2:
            raise RuntimeError("disk on fire")
        return item

    stream = prefetched(iter(range(5)), boom, depth=1)
    assert [next(stream), next(stream)] == [0, 1]
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(stream)


def test_frame_warnings_reach_the_record(tmp_path: Path):
    from PIL import Image

    frames = [Image.new("RGB", (30, 20), (20 * i, 0, 0)) for i in range(5)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=40)
    items = [Source(str(tmp_path / "anim.gif"), "anim.gif"), Source(str(SAMPLES / "bus.jpg"), "bus.jpg")]
    results = list(detect_stream(items, FakeDetector(), OPTIONS))
    assert results[0].ok and results[0].warnings == ("animated GIF with 5 frames: only the first was used",)
    assert results[1].warnings == ()


class BreakingDetector(FakeDetector):
    """Works for the first `good` images, then fails (`on_blank`: on the blank probe too) with `error`."""

    def __init__(self, good: int, error: Exception, *, on_blank: bool = True) -> None:
        super().__init__()
        self.good, self.error, self.on_blank = good, error, on_blank

    def predict(self, images, options):
        if len(images) == 1 and images[0].shape[:2] == (options.imgsz,) * 2 and (images[0] == 114).all():
            if self.on_blank:
                raise self.error
        elif len(images) > self.good:
            raise self.error
        else:
            self.good -= len(images)
        return super().predict(images, options)


def shapes(n: int) -> list[Source]:
    return [Source(str(p), p.name) for p in sorted((SAMPLES / "shapes").glob("*.jpg"))[:n]]


@pytest.mark.parametrize("batch", [1, 4])
def test_a_broken_model_stops_the_run_with_its_cause(batch: int) -> None:
    """Out of memory after two images: not N error records, but ModelFailed once the blank image fails too;
    the records finished before it came out."""
    from detect_cli.core.errors import ModelFailed

    detector = BreakingDetector(2, RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    seen = []
    with pytest.raises(ModelFailed, match=r"and on a blank image too.*CUDA out of memory") as info:
        for result in detect_stream(shapes(6), detector, OPTIONS, batch=batch):
            seen.append(result)
    assert "--batch" in info.value.hint
    assert [r.ok for r in seen] == ([True, True] if batch == 1 else [])  # batch 4: the first batch never finished


def test_a_fault_the_blank_image_misses_stops_after_a_streak() -> None:
    """A bug only real images reach (the blank probe passes): error records until REPEATS in a row."""
    from detect_cli.core.errors import ModelFailed
    from detect_cli.pipeline.failures import REPEATS

    detector = BreakingDetector(1, IndexError("index 7 is out of bounds for axis 0"), on_blank=False)
    seen = []
    with pytest.raises(ModelFailed, match=rf"{REPEATS} inputs in a row.*shape_00003\.jpg.*IndexError"):
        for result in detect_stream(shapes(8), detector, OPTIONS, batch=1):
            seen.append(result)
    assert [r.ok for r in seen] == [True] + [False] * (REPEATS - 1)
    assert "model failed on this image: IndexError: index 7" in seen[1].error


def test_an_error_that_says_what_it_is_passes_through() -> None:
    from detect_cli.core.errors import ConfigError

    detector = BreakingDetector(0, ConfigError("attention maps need a PyTorch model"))
    with pytest.raises(ConfigError, match="PyTorch"):
        list(detect_stream(shapes(2), detector, OPTIONS))
