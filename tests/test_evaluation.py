from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detect_cli.detections import Detections
from detect_cli.errors import ConfigError
from detect_cli.evaluation import Labels, Prediction, evaluate, read_yolo_txt
from tests.conftest import SAMPLES

SHAPES = SAMPLES / "shapes"
NAMES = {0: "circle", 1: "square", 2: "triangle", 3: "star", 4: "ring"}


def ground_truth_predictions(labels: Labels) -> list[Prediction]:
    """The labels themselves, presented as predictions (confidence 1)."""
    coco = json.loads((SHAPES / "annotations.json").read_text())
    preds = []
    for img in coco["images"]:
        probe = Prediction(img["file_name"], img["file_name"], img["width"], img["height"], Detections.empty())
        preds.append(Prediction(img["file_name"], img["file_name"], img["width"], img["height"], labels.find(probe)))
    return preds


@pytest.mark.parametrize("label_path", [SHAPES / "annotations.json", SHAPES / "labels"])
def test_ground_truth_scores_one(label_path: Path) -> None:
    labels = Labels.load(label_path, NAMES)
    reference = Labels.load(SHAPES / "annotations.json", NAMES)
    report = evaluate(ground_truth_predictions(reference), labels)
    assert report.images == 24
    assert report.overall.map50 == pytest.approx(1.0, abs=1e-3)
    assert report.overall.map50_95 == pytest.approx(1.0, abs=0.02)  # YOLO txt rounding to 6 decimals
    assert report.overall.precision == pytest.approx(1.0) and report.overall.recall == pytest.approx(1.0)
    assert {c.name for c in report.classes} == set(NAMES.values())


def test_yolo_and_coco_labels_agree() -> None:
    coco = Labels.load(SHAPES / "annotations.json", NAMES)
    yolo = Labels.load(SHAPES / "labels", NAMES)
    for pred in ground_truth_predictions(coco):
        a, b = coco.find(pred), yolo.find(pred)
        assert np.array_equal(a.class_id, b.class_id)
        assert np.allclose(a.xyxy, b.xyxy, atol=0.01)


def noisy(preds: list[Prediction], seed: int) -> list[Prediction]:
    """Jittered boxes, random confidences, some dropped, some false positives, some wrong classes."""
    rng = np.random.default_rng(seed)
    out = []
    for p in preds:
        d = p.detections
        n = len(d)
        keep = rng.random(n) > 0.2
        xyxy = d.xyxy + rng.normal(0, 3, d.xyxy.shape)
        cls = np.where(rng.random(n) < 0.1, (d.class_id + 1) % 5, d.class_id)
        fp = rng.uniform(0, 250, (2, 2))
        extra = np.concatenate([fp, fp + rng.uniform(10, 60, (2, 2))], axis=1)
        boxes = np.concatenate([xyxy[keep], extra])
        conf = rng.uniform(0.05, 1.0, len(boxes))
        classes = np.concatenate([cls[keep], rng.integers(0, 5, 2)])
        out.append(Prediction(p.name, p.source, p.width, p.height, Detections(boxes, conf, classes)))
    return out


def test_map_agrees_with_faster_coco_eval_directly() -> None:
    from faster_coco_eval import COCO, COCOeval_faster

    labels = Labels.load(SHAPES / "annotations.json", NAMES)
    preds = noisy(ground_truth_predictions(labels), seed=4)
    report = evaluate(preds, labels)

    gt = COCO(str(SHAPES / "annotations.json"))
    ids = {img["file_name"]: img["id"] for img in gt.dataset["images"]}
    results = [
        {"image_id": ids[p.name], "category_id": int(c), "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
         float(b[3] - b[1])], "score": float(s)}
        for p in preds for b, s, c in zip(p.detections.xyxy, p.detections.confidence, p.detections.class_id)
    ]  # fmt: skip
    ev = COCOeval_faster(gt, gt.loadRes(results), "bbox", print_function=lambda *_: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert report.overall.map50_95 == pytest.approx(ev.stats[0], abs=1e-6)
    assert report.overall.map50 == pytest.approx(ev.stats[1], abs=1e-6)
    assert 0.2 < report.overall.map50 < 0.95  # the noise did something


def test_precision_recall_at_conf() -> None:
    truth = Detections([[0, 0, 10, 10], [20, 20, 40, 40]], [1, 1], [0, 1])
    labels = Labels({"a.jpg": truth}, NAMES)
    pred = Detections(
        [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60], [0, 0, 10, 10]],
        [0.9, 0.8, 0.7, 0.1],
        [0, 2, 0, 0],  # a hit, a wrong class, a false positive, a low-confidence duplicate
    )
    report = evaluate([Prediction("a.jpg", "a.jpg", 100, 100, pred)], labels, conf=0.5)
    assert report.overall.detections == 3 and report.overall.instances == 2
    assert report.overall.precision == pytest.approx(1 / 3) and report.overall.recall == pytest.approx(1 / 2)


def test_unlabelled_images_are_left_out() -> None:
    labels = Labels({"a.jpg": Detections.empty()}, NAMES)
    preds = [Prediction("b.jpg", "x/b.jpg", 10, 10, Detections.empty())]
    assert evaluate(preds, labels).unlabelled == ["x/b.jpg"]


def test_bad_label_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="COCO"):
        Labels.load(tmp_path / "nothing.txt", NAMES)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(ConfigError, match="not a COCO ground-truth file"):
        Labels.load(bad, NAMES)
    txt = tmp_path / "x.txt"
    txt.write_text("0 0.5 0.5\n")
    with pytest.raises(ConfigError, match="bad YOLO label file"):
        read_yolo_txt(txt, 10, 10)
