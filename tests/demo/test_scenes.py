"""Fast checks of the synthetic shapes generator behind the demo model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.demo.scenes import CLASSES, make_scene, write_data_yaml, write_dataset

SIZE = 320
N = 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("shapes") / "a", N, seed=11)


def _label_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "labels").glob("*.txt"))}


def _read_yolo(path: Path) -> list[tuple[int, float, float, float, float]]:
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(int(r[0]), *map(float, r[1:])) for r in rows]


def test_same_seed_is_byte_identical(dataset: Path, tmp_path: Path) -> None:
    again = write_dataset(tmp_path / "b", N, seed=11)
    assert _label_bytes(again) == _label_bytes(dataset)
    assert (again / "annotations.json").read_bytes() == (dataset / "annotations.json").read_bytes()


def test_image_depends_only_on_seed_and_index(dataset: Path, tmp_path: Path) -> None:
    fewer = write_dataset(tmp_path / "c", 3, seed=11)
    full = _label_bytes(dataset)
    assert all(full[name] == data for name, data in _label_bytes(fewer).items())


def test_different_seeds_differ(dataset: Path, tmp_path: Path) -> None:
    other = write_dataset(tmp_path / "d", N, seed=12)
    assert _label_bytes(other) != _label_bytes(dataset)


def test_make_scene_uses_only_the_given_rng() -> None:
    img1, labels1 = make_scene(np.random.default_rng(5))
    np.random.seed(0)  # global state must not matter
    img2, labels2 = make_scene(np.random.default_rng(5))
    assert labels1 == labels2 and np.array_equal(img1, img2)
    assert img1.shape == (SIZE, SIZE, 3) and img1.dtype == np.uint8


def test_boxes_inside_image_and_not_degenerate() -> None:
    seen: set[int] = set()
    for i in range(40):
        _, labels = make_scene(np.random.default_rng([99, i]))
        for cls, x1, y1, x2, y2 in labels:
            seen.add(cls)
            assert 0 <= cls < len(CLASSES)
            assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE
            assert min(x2 - x1, y2 - y1) >= 6
    assert seen == set(range(len(CLASSES)))


def test_boxes_cover_visible_objects() -> None:
    """Each box's pixels differ from the background just outside it (the object is there)."""
    for i in range(20):
        img, labels = make_scene(np.random.default_rng([3, i]))
        blurred = cv2.GaussianBlur(img, (0, 0), 1.0).astype(np.float32)
        for _, x1, y1, x2, y2 in labels:
            x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
            inner = blurred[y1:y2, x1:x2].reshape(-1, 3)
            # median colour of the box border is (mostly) background for all but full boxes
            ring = np.concatenate(
                [blurred[y1, x1:x2], blurred[y2 - 1, x1:x2], blurred[y1:y2, x1], blurred[y1:y2, x2 - 1]]
            )
            ref = np.median(ring, axis=0)
            far = np.linalg.norm(inner - ref, axis=1) > 30
            assert far.mean() > 0.05, (i, (x1, y1, x2, y2))


def test_yolo_and_coco_agree(dataset: Path) -> None:
    coco = json.loads((dataset / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    assert [c["id"] for c in coco["categories"]] == list(range(len(CLASSES)))
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        assert ann["iscrowd"] == 0 and ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3])
        by_image.setdefault(ann["image_id"], []).append(ann)
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
    for image in coco["images"]:
        assert (image["width"], image["height"]) == (SIZE, SIZE)
        assert (dataset / "images" / image["file_name"]).is_file()
        rows = _read_yolo(dataset / "labels" / (Path(image["file_name"]).stem + ".txt"))
        anns = by_image.get(image["id"], [])
        assert len(rows) == len(anns)
        for (cls, cx, cy, w, h), ann in zip(rows, anns):
            x, y, bw, bh = ann["bbox"]
            assert cls == ann["category_id"]
            expected = [(x + bw / 2) / SIZE, (y + bh / 2) / SIZE, bw / SIZE, bh / SIZE]
            assert [cx, cy, w, h] == pytest.approx(expected, abs=1e-6)


def test_coco_loads_with_faster_coco_eval(dataset: Path) -> None:
    faster_coco_eval = pytest.importorskip("faster_coco_eval")
    gt = faster_coco_eval.COCO(str(dataset / "annotations.json"))
    assert sorted(gt.getCatIds()) == list(range(len(CLASSES)))
    assert len(gt.getImgIds()) == N
    assert len(gt.getAnnIds()) == len(json.loads((dataset / "annotations.json").read_text())["annotations"])


def test_images_are_written_as_png(dataset: Path) -> None:
    img = cv2.imread(str(dataset / "images" / "shape_00000.png"))
    expected, _ = make_scene(np.random.default_rng([11, 0]))
    assert np.array_equal(img, expected)


def test_data_yaml(dataset: Path, tmp_path: Path) -> None:
    text = write_data_yaml(dataset, dataset, tmp_path / "d.yaml").read_text()
    assert f"train: {dataset.resolve() / 'images'}" in text
    assert all(f"{i}: {name}" in text for i, name in enumerate(CLASSES))


# --- pictures of other shapes: 4:3, 16:9, portrait ---------------------------------------------------------------

OTHER_SIZES = [(640, 480), (1280, 720), (480, 640)]


@pytest.mark.parametrize("size", OTHER_SIZES)
def test_scenes_of_other_shapes_have_labels_inside_them(size: tuple[int, int]) -> None:
    width, height = size
    boxes = []
    for i in range(25):
        img, labels = make_scene(np.random.default_rng([4, i]), size)
        assert img.shape == (height, width, 3)
        for cls, x1, y1, x2, y2 in labels:
            assert 0 <= cls < len(CLASSES)
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            boxes.append((x1, y1, x2, y2))
    xyxy = np.asarray(boxes)
    assert xyxy[:, 2].max() > 0.9 * width and xyxy[:, 3].max() > 0.9 * height  # the whole picture is used
    assert xyxy[:, 0].min() < 0.1 * width and xyxy[:, 1].min() < 0.1 * height


def test_shapes_grow_with_the_long_side() -> None:
    """A 1280x720 scene shrunk to 320 wide shows its shapes at the sizes of a 320 scene (the demo model's world)."""

    def median_side(size: int | tuple[int, int]) -> float:
        sides = [
            max(x2 - x1, y2 - y1)
            for i in range(60)
            for _, x1, y1, x2, y2 in make_scene(np.random.default_rng([6, i]), size)[1]
        ]
        return float(np.median(sides))

    ratio = median_side((1280, 720)) / median_side(320)
    assert 3.2 < ratio < 4.8


def test_a_320_scene_is_the_same_whichever_way_its_size_is_given() -> None:
    square, labels = make_scene(np.random.default_rng([8, 1]))
    given, given_labels = make_scene(np.random.default_rng([8, 1]), (320, 320))
    assert np.array_equal(square, given) and labels == given_labels


def test_non_square_dataset_labels_are_normalised_per_axis(tmp_path: Path) -> None:
    """YOLO rows divide x by the width and y by the height; COCO says each image's own size."""
    root = write_dataset(tmp_path / "wide", 6, seed=2, size=(640, 360))
    coco = json.loads((root / "annotations.json").read_text())
    assert {(im["width"], im["height"]) for im in coco["images"]} == {(640, 360)}
    assert cv2.imread(str(root / "images" / "shape_00000.png")).shape == (360, 640, 3)
    rows = [row for p in sorted((root / "labels").glob("*.txt")) for row in _read_yolo(p)]
    assert len(rows) == len(coco["annotations"]) > 0
    for (cls, cx, cy, w, h), ann in zip(rows, coco["annotations"]):
        x, y, bw, bh = ann["bbox"]
        assert cls == ann["category_id"]
        assert [cx, cy, w, h] == pytest.approx([(x + bw / 2) / 640, (y + bh / 2) / 360, bw / 640, bh / 360], abs=1e-6)


def test_generate_takes_a_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from detect_cli.demo.generate import main

    main([str(tmp_path / "portrait"), "--n", "2", "--size", "480x640", "--ext", "jpg"])
    assert cv2.imread(str(tmp_path / "portrait" / "images" / "shape_00001.jpg")).shape == (640, 480, 3)
    main([str(tmp_path / "big"), "--n", "1", "--large", "--size", "900x600"])
    assert cv2.imread(str(tmp_path / "big" / "images" / "large_00000.png")).shape == (600, 900, 3)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "bad"), "--size", "640by480"])
    assert exit_info.value.code == 2
    assert "640by480" in capsys.readouterr().err and not (tmp_path / "bad").exists()


@pytest.mark.slow
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (480, 640)])
def test_the_demo_model_finds_the_labelled_shapes_at_other_sizes(size: tuple[int, int]) -> None:
    """The labels are where the shapes are, at sizes the model knows: the demo model run on the whole
    picture at 320 finds most of them."""
    from detect_cli.core.detections import Detections
    from detect_cli.core.matching import Agreement, match
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.lookup import resolve_model

    detector = load_detector(resolve_model("demo"), threads=1)
    agreement = Agreement()
    for i in range(10):
        img, labels = make_scene(np.random.default_rng([12, i]), size)
        truth = Detections(
            np.asarray([b[1:] for b in labels], np.float32).reshape(-1, 4),
            np.ones(len(labels), np.float32),
            np.asarray([b[0] for b in labels], np.int64),
        )
        ((found, _),) = detector.predict([img], PredictOptions(imgsz=320, conf=0.4))
        agreement.add(len(match(truth, found, 0.5)), len(truth), len(found))
    assert agreement.count_a > 20
    assert agreement.f1 > 0.8, agreement
