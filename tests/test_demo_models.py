"""The shipped demo models on the shipped labelled shapes: real, checkable results.

A broken pipeline (boxes in the wrong place, wrong class ids, wrong letterbox undo) cannot pass
these bars, and a random-weight model of the same family scores near 0 in the same tests."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detect_cli.evaluation.metrics import Labels, evaluate
from detect_cli.evaluation.predictions import Prediction
from detect_cli.inputs.sources import iter_sources
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.lookup import PACKAGED, PACKAGED_DIR, resolve_model
from detect_cli.pipeline.engine import detect_stream
from tests.conftest import SAMPLES

SHAPES = SAMPLES / "shapes"
DEMOS = [name for name in ("demo", "demo-rtdetr") if (PACKAGED_DIR / PACKAGED[name]).is_file()]
BARS = {"demo": 0.85, "demo-rtdetr": 0.70}  # mAP50 on the 24 shipped images; see README for the held-out figures


@pytest.fixture(scope="module", params=DEMOS)
def demo(request: pytest.FixtureRequest):
    return load_detector(resolve_model(request.param), device="cpu", threads=1)


def run(detector, conf: float) -> list[Prediction]:
    options = PredictOptions(conf=conf, imgsz=320)
    results = detect_stream(iter_sources([str(SHAPES)]), detector, options)
    return [Prediction.from_result(r) for r in results]


def test_demo_models_are_shipped() -> None:
    assert "demo" in DEMOS


def test_demo_finds_the_right_objects(demo) -> None:
    labels = Labels.load(SHAPES / "annotations.json", demo.names)
    report = evaluate(run(demo, 0.001), labels, conf=0.25)
    assert report.images == 24
    assert report.overall.map50 >= BARS[demo.ref.spec], report.as_dict()


def test_rtdetr_demo_scores_no_duplicates_at_the_default_conf() -> None:
    """Issue #17's bar: the RT-DETR demo's precision at conf 0.25 (its duplicate queries used to score
    above it: 114 detections for 78 objects, precision 0.675), with its card's query count."""
    if "demo-rtdetr" not in DEMOS:
        pytest.skip("demo-rtdetr.pt is not shipped in this checkout")
    detector = load_detector(resolve_model("demo-rtdetr"), device="cpu", threads=1)
    card = json.loads((PACKAGED_DIR / "demo-rtdetr.json").read_text())
    assert detector.network().model[-1].num_queries == card["queries"]
    labels = Labels.load(SHAPES / "annotations.json", detector.names)
    report = evaluate(run(detector, 0.001), labels, conf=0.25)
    assert report.overall.precision >= 0.9 and report.overall.recall >= 0.9, report.as_dict()


def test_demo_counts_match_the_labels() -> None:
    """The YOLO26 demo's per-class counts equal the ground truth on most images (issue #4's bar;
    the RT-DETR demo's bar is its mAP, its confidences are calibrated lower)."""
    demo = load_detector(resolve_model("demo"), device="cpu", threads=1)
    labels = Labels.load(SHAPES / "annotations.json", demo.names)
    predictions = run(demo, 0.4)
    same = 0
    for pred in predictions:
        truth = labels.find(pred)
        same += Counter(pred.detections.class_id.tolist()) == Counter(truth.class_id.tolist())
    assert same >= 0.6 * len(predictions), f"per-class counts right on {same}/{len(predictions)} images"


def test_random_weights_score_near_zero_in_the_same_test() -> None:
    detector = load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=1)
    report = evaluate(run(detector, 0.001), Labels.load(SHAPES / "annotations.json", detector.names))
    assert report.overall.map50 < 0.05


def test_compare_demo_beats_random_and_they_disagree() -> None:
    from detect_cli.tasks.compare import ComparisonRun, Contender, compare_stream, comparison_report

    demo = load_detector(resolve_model("demo"), device="cpu", threads=1)
    rand = load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=1)
    options = PredictOptions(conf=0.001, imgsz=320)
    contenders = [Contender("demo", demo, options), Contender("random", rand, options)]
    labels = [Labels.load(SHAPES / "annotations.json", c.detector.names) for c in contenders]
    run_ = ComparisonRun(contenders, labels, conf=0.25)
    for item in compare_stream(iter_sources([str(SHAPES)]), contenders):
        run_.add(item)
    report = comparison_report(run_, {})
    demo_row, random_row = report["models"]
    assert demo_row["map50"] > 0.8 > 0.05 > random_row["map50"]
    assert report["agreement"][0]["f1"] < 0.2


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_demo_gives_the_same_detections(tmp_path: Path, fmt: str) -> None:
    from detect_cli.inputs.images import read_image
    from detect_cli.models.export import FORMATS, export_model, load_exported, verify

    demo = load_detector(resolve_model("demo"), device="cpu", threads=1)
    path = export_model(demo, FORMATS[fmt], tmp_path, imgsz=320)
    exported = load_exported(path, "yolo", threads=1)
    assert exported.names == demo.names
    images = [read_image(s) for s in list(iter_sources([str(SHAPES)]))[:8]]
    check = verify(demo, exported, images, PredictOptions(conf=0.25, imgsz=320))
    assert check.agreement.count_a > 10 and check.passed, check.as_dict()


def test_attention_sits_on_the_detected_object(demo) -> None:
    """Mass of each detection's map inside its box, against the share of the image the box covers."""
    from detect_cli.attention.capture import explain
    from detect_cli.attention.maps import figures
    from detect_cli.inputs.images import read_image

    inside, area = [], []
    for source in list(iter_sources([str(SHAPES)]))[:8]:
        image = read_image(source)
        e = explain(demo, image, PredictOptions(conf=0.4, imgsz=320))
        for heat, box in zip(e.maps, e.detections.xyxy):
            inside.append(figures(heat, box).mass_in_box)
            area.append((box[2] - box[0]) * (box[3] - box[1]) / (image.shape[0] * image.shape[1]))
    assert len(inside) >= 10
    assert np.mean(inside) > 2 * np.mean(area), (np.mean(inside), np.mean(area))


def test_deleting_what_attention_points_at_hurts_more_than_random(demo) -> None:
    from detect_cli.attention.metrics import MetricTable
    from detect_cli.attention.run import explain_image
    from detect_cli.inputs.images import read_image

    table = MetricTable()
    rng = np.random.default_rng(0)
    options = replace(PredictOptions(conf=0.4, imgsz=320))
    for source in list(iter_sources([str(SHAPES)]))[:3]:
        explain_image(demo, read_image(source), options, check=table, rng=rng)
    assert table.interval("attention", "deletion_auc").mean < table.interval("random", "deletion_auc").mean
    assert table.interval("attention", "insertion_auc").mean > table.interval("random", "insertion_auc").mean
