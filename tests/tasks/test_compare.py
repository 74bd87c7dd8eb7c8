from __future__ import annotations

import time
from dataclasses import replace

import pytest

from detect_cli.evaluation.metrics import Labels
from detect_cli.inputs.sources import Source
from detect_cli.models.detector import PredictOptions
from detect_cli.pipeline import engine
from detect_cli.tasks.compare import ComparisonRun, Contender, compare_stream, comparison_report
from tests.conftest import SAMPLES, TEST_IMGSZ
from tests.helpers import watch_budget_peak

OPTIONS = PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=10)
SHAPES = SAMPLES / "shapes"


def shape_sources(n: int = 3) -> list[Source]:
    return [Source(str(SHAPES / f"shape_{i:05d}.jpg"), f"shape_{i:05d}.jpg") for i in range(n)]


def test_each_image_is_decoded_once_and_models_take_turns(yolo_detector, monkeypatch: pytest.MonkeyPatch) -> None:
    decodes: list[str] = []
    real_read = engine.read_image
    monkeypatch.setattr(engine, "read_image", lambda s, o: decodes.append(s.ref) or real_read(s, o))
    calls: list[str] = []

    def spy(name: str):
        def predict(images, options):
            calls.append(name)
            return yolo_detector.predict(images, options)

        return predict

    contenders = []
    for name in ("a", "b", "c"):
        detector = replace(yolo_detector)
        object.__setattr__(detector, "predict", spy(name))
        contenders.append(Contender(name, detector, OPTIONS))
    items = list(compare_stream(shape_sources(3), contenders))
    assert len(decodes) == 3
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # who goes first rotates
    assert all(len(i.results) == 3 and i.ok for i in items)


def test_model_against_itself_agrees_fully(yolo_detector) -> None:
    contenders = [Contender("x", yolo_detector, OPTIONS), Contender("y", yolo_detector, OPTIONS)]
    labels = [Labels.load(SHAPES / "annotations.json", yolo_detector.names)] * 2
    run = ComparisonRun(contenders, labels)
    for item in compare_stream(shape_sources(4), contenders):
        run.add(item)
    report = comparison_report(run, {})
    [pair] = report["agreement"]
    assert pair["matched"] == 40 and pair["f1"] == 1.0 and pair["mean_iou"] == pytest.approx(1.0)
    x, y = report["models"]
    assert x["map50_95"] == y["map50_95"] and x["class_counts"] == y["class_counts"]
    assert x["images"] == 4 and x["detections"] == 40 and x["total_p95"] >= x["total_p50"] > 0


def test_yolo_and_rtdetr_disagree_on_random_weights(yolo_detector, rtdetr_detector) -> None:
    contenders = [Contender("yolo", yolo_detector, OPTIONS), Contender("rtdetr", rtdetr_detector, OPTIONS)]
    run = ComparisonRun(contenders)
    for item in compare_stream(shape_sources(2), contenders):
        run.add(item)
    report = comparison_report(run, {})
    assert report["agreement"][0]["f1"] < 0.5
    assert [m["head"] for m in report["models"]] == ["NMS-free", "none (RT-DETR)"]
    assert report["models"][1]["params_m"] > report["models"][0]["params_m"]


def test_bad_image_is_a_failure_for_every_model(yolo_detector, tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    contenders = [Contender("x", yolo_detector, OPTIONS), Contender("y", yolo_detector, OPTIONS)]
    run = ComparisonRun(contenders)
    for item in compare_stream([*shape_sources(1), Source(str(bad), "bad.jpg")], contenders):
        run.add(item)
    assert [(s.images, s.failed) for s in run.stats] == [(1, 1), (1, 1)]
    assert run.failures == [(str(bad), "empty file (0 bytes)")]


def test_images_read_ahead_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in detect: with room for one decoded image, the reader waits instead of decoding the next
    two while the models run (bus.jpg is 2.6 MB decoded)."""
    from detect_cli.core.detections import Detections
    from detect_cli.core.results import Timing
    from detect_cli.tasks import compare

    monkeypatch.setattr(compare, "BYTES_IN_FLIGHT", 1)
    peak = watch_budget_peak(monkeypatch)

    class Slow:
        def __init__(self) -> None:
            self.names = {0: "thing"}

        def predict(self, images, options):
            time.sleep(0.05)  # the reader has time to run ahead, if it may
            return [(Detections.empty(), Timing()) for _ in images]

    sources = [Source(str(SAMPLES / "bus.jpg"), f"bus{i}.jpg") for i in range(4)]
    contenders = [Contender(name, Slow(), PredictOptions()) for name in ("a", "b")]
    items = list(compare_stream(sources, contenders))
    assert [i.index for i in items] == [0, 1, 2, 3] and all(i.ok for i in items)
    assert peak() == 810 * 1080 * 3  # one image at a time; without the budget, up to three


def test_a_video_is_an_error_record_not_frames(yolo_detector) -> None:
    sources = [Source(str(SAMPLES / "video" / "shapes.mp4"), "shapes.mp4"), *shape_sources(1)]
    items = list(compare_stream(sources, [Contender("a", yolo_detector, PredictOptions(imgsz=TEST_IMGSZ))]))
    assert [i.ok for i in items] == [False, True] and "compare runs on images" in items[0].results[0].error
