from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.evaluation.metrics import Labels, evaluate, read_yolo_txt
from detect_cli.evaluation.predictions import Prediction
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
        {
            "image_id": ids[p.name],
            "category_id": int(c),
            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
            "score": float(s),
        }
        for p in preds
        for b, s, c in zip(p.detections.xyxy, p.detections.confidence, p.detections.class_id)
    ]
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


def test_a_label_path_that_is_neither_json_nor_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        Labels.load(tmp_path / "nothing.json", NAMES)
    (tmp_path / "labels.csv").write_text("a,b")
    with pytest.raises(ConfigError, match=r"expected a COCO \.json file or a folder of YOLO \.txt labels"):
        Labels.load(tmp_path / "labels.csv", NAMES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \.txt label files"):
        Labels.load(tmp_path / "empty", NAMES)


def coco(**changes: object) -> dict:
    """A small valid COCO ground truth, with top-level keys replaced."""
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "categories": [{"id": 0, "name": "circle"}, {"id": 7, "name": "square"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 0, "bbox": [1, 2, 3, 4]},
            {"id": 11, "image_id": 2, "category_id": 7, "bbox": [5, 5, 10, 10]},
            {"id": 17, "image_id": 2, "category_id": 7, "bbox": [0, 0, 1, 1], "iscrowd": 1},
        ],
    }
    doc.update(changes)
    return doc


def with_annotation(**fields: object) -> dict:
    doc = coco()
    doc["annotations"][2] = {"id": 17, "image_id": 2, "category_id": 7, "bbox": [0, 0, 1, 1], **fields}
    return doc


def test_a_valid_coco_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco()))
    labels = Labels.load(path, NAMES)
    b = labels.find(Prediction("b.jpg", "b.jpg", 50, 50, Detections.empty()))
    assert b.class_id.tolist() == [1] and b.xyxy.tolist() == [[5, 5, 15, 15]]  # "square" is model class 1
    assert labels.names == {0: "circle", 1: "square"}


BAD_COCO = [
    (
        "[1, 2]",
        "gt.json: not a COCO ground-truth file (expected a JSON object with 'images', 'annotations' and "
        "'categories', got a list)",
    ),
    ("{", "gt.json: not valid JSON (line 1, column 2"),
    ('{"images": []}', "gt.json: not a COCO ground-truth file (no 'categories' list)"),
    (coco(annotations={}), "gt.json: 'annotations' must be a list, got an object"),
    ({k: v for k, v in coco().items() if k != "images"}, "gt.json: not a COCO ground-truth file (no 'images' list)"),
    (coco(images=[{"id": 1}]), "gt.json: image #1 (id 1): no 'file_name'"),
    (coco(images=[{"id": 1.5, "file_name": "a.jpg"}]), "gt.json: image #1 (id 1.5): 'id' must be an integer or a"),
    (
        coco(images=[{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "c.jpg"}]),
        "gt.json: image #2 (id 1): id 1 is used by an earlier image too",
    ),
    (
        coco(images=[{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}]),
        "gt.json: image #2 (id 2): file_name 'a.jpg' is used by image id 1 too",
    ),
    (coco(categories=["circle"]), "gt.json: category #1: must be a JSON object, got a string"),
    (coco(categories=[{"id": "0", "name": "circle"}]), "gt.json: category #1 (id \"0\"): 'id' must be an integer"),
    (with_annotation(image_id=99), "gt.json: annotation #3 (id 17): image_id 99 is not in 'images'"),
    (with_annotation(category_id=3), "gt.json: annotation #3 (id 17): category_id 3 is not in 'categories'"),
    (with_annotation(category_id=True), "gt.json: annotation #3 (id 17): 'category_id' must be an integer, got true"),
    (with_annotation(bbox=[1, 2]), "gt.json: annotation #3 (id 17): bbox must be 4 numbers [x, y, w, h], got [1, 2]"),
    (with_annotation(bbox=None), "gt.json: annotation #3 (id 17): bbox must be 4 numbers [x, y, w, h], got null"),
    (with_annotation(bbox=[1, 2, "3", 4]), 'bbox must be 4 numbers [x, y, w, h], got [1, 2, "3", 4]'),
    (with_annotation(bbox=[1, 2, 3, float("nan")]), "bbox must be 4 numbers [x, y, w, h], got [1, 2, 3, NaN]"),
    (with_annotation(bbox=[1, 2, -3, 4]), "annotation #3 (id 17): bbox width and height must not be negative"),
    (with_annotation(iscrowd="yes"), 'annotation #3 (id 17): iscrowd must be 0 or 1, got "yes"'),
    (coco(annotations=[{"image_id": 1, "category_id": 0}]), "gt.json: annotation #1: bbox must be 4 numbers"),
    (coco(annotations=[[1, 0, 1, 2, 3, 4]]), "gt.json: annotation #1: must be a JSON object, got a list"),
]


@pytest.mark.parametrize(("content", "message"), BAD_COCO)
def test_malformed_coco_names_the_file_and_the_record(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "gt.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ConfigError) as caught:
        Labels.load(path, NAMES)
    assert str(caught.value).startswith(str(path.parent)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_label_text(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match=r"gt\.json: not a UTF-8 text file"):
        Labels.load(path, NAMES)


def test_yolo_polygons_count_as_their_bounding_box(tmp_path: Path) -> None:
    txt = tmp_path / "x.txt"
    txt.write_text("\ufeff2 0.1 0.2 0.5 0.2 0.3 0.6\n\n3 0.5 0.5 0.2 0.4\n")  # BOM, polygon, blank line, box
    dets = read_yolo_txt(txt, 100, 50)
    assert dets.class_id.tolist() == [2, 3]
    assert np.allclose(dets.xyxy, [[10, 10, 50, 30], [40, 15, 60, 35]])


BAD_YOLO = [
    (
        "0 0.5 0.5",
        "line 1: expected 5 numbers 'cls cx cy w h' (or a polygon 'cls x1 y1 x2 y2 ...'), not 3, got '0 0.5 0.5'",
    ),
    ("0 0.5 0.5 0.1 0.1 0.9", "expected 5 numbers 'cls cx cy w h' (or a polygon 'cls x1 y1 x2 y2 ...'), not 6"),
    ("0 0.5 0.5 0.1 0.1\ncar 0.5 0.5 0.1 0.1", "line 2: expected numbers 'cls cx cy w h', got 'car 0.5 0.5 0.1 0.1'"),
    ("0 0.5 nan 0.1 0.1", "line 1: values must be finite numbers"),
    ("1.5 0.5 0.5 0.1 0.1", "line 1: the class id must be a whole number >= 0"),
    ("-1 0.5 0.5 0.1 0.1", "line 1: the class id must be a whole number >= 0"),
    ("0 0.5 0.5 -0.1 0.1", "line 1: width and height must not be negative"),
    ("0 160 120 30 40", "line 1: coordinates must be normalised to 0..1 by the image size (pixel coordinates?)"),
]


@pytest.mark.parametrize(("content", "message"), BAD_YOLO)
def test_malformed_yolo_lines_name_the_file_and_the_line(tmp_path: Path, content: str, message: str) -> None:
    txt = tmp_path / "x.txt"
    txt.write_text(content + "\n")
    with pytest.raises(ConfigError) as caught:
        read_yolo_txt(txt, 10, 10)
    assert str(caught.value).startswith(f"{txt}: ") and message in str(caught.value)


def test_a_bad_yolo_file_is_found_when_the_labels_folder_is_read(tmp_path: Path) -> None:
    """Before any image is scored (and before any model loads): not when its image comes up."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(ConfigError, match=r"sub/a\.txt: line 1: expected 5 numbers"):
        Labels.read(tmp_path)


def test_yolo_folder_labels_are_found_by_relative_path_then_by_name(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (tmp_path / "b.txt").write_text("1 0.25 0.25 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("circle\nsquare\n")  # LabelImg's list of names: not a label file
    labels = Labels.load(tmp_path, NAMES)
    a = labels.find(Prediction("sub/a.jpg", "x/sub/a.jpg", 100, 50, Detections.empty()))
    b = labels.find(Prediction("deep/b.jpg", "x/deep/b.jpg", 100, 100, Detections.empty()))
    assert a is not None and a.xyxy.tolist() == [[40.0, 15.0, 60.0, 35.0]]
    assert b is not None and b.class_id.tolist() == [1] and b.xyxy.tolist() == [[0.0, 0.0, 50.0, 50.0]]
    assert len(labels.find(Prediction("c.jpg", "x/c.jpg", 10, 10, Detections.empty()))) == 0


def test_categories_the_model_lacks_are_named(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    doc = coco(categories=[{"id": 0, "name": "Circle"}, {"id": 7, "name": "hexagon"}, {"id": 2, "name": "dog"}])
    doc["annotations"][0]["category_id"] = 2
    path.write_text(json.dumps(doc))
    labels = Labels.load(path, NAMES)
    assert labels.notes == [
        "category 'hexagon' (id 7) is not a class of the model (nothing can match it)",
        "category 'dog' (id 2) is not a class of the model; its labels count as the model's class 2 'triangle'",
    ]
    assert Labels.load(SHAPES / "annotations.json", NAMES).notes == []
