"""Formats for annotation tools, read back by the tools' own loaders: YOLO labels by Ultralytics' dataset
loader, the COCO dataset by faster-coco-eval, Label Studio tasks by its schema (and by its SDK's
validator and YOLO converter where label-studio-sdk is installed)."""

from __future__ import annotations

import copy
import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.outputs.formats import open_sink
from detect_cli.outputs.label_formats import LabelOptions, image_reference
from detect_cli.outputs.records import image_record
from detect_cli.outputs.sinks import rounded
from tests.helpers import NAMES, image_bytes, make_detections, make_result, pattern_rgb, write_jpeg

META = {"model": {"spec": "demo", "names": {str(k): v for k, v in NAMES.items()}}, "settings": {"conf": 0.25}}
SCHEMA = json.loads((Path(__file__).parent / "labelstudio_tasks.schema.json").read_text())


def still(folder: Path, name: str, index: int, width: int, height: int, n: int = 3) -> ImageResult:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        path.write_bytes(image_bytes(pattern_rgb(height, width, index), "PNG"))
    else:
        write_jpeg(path, height, width, seed=index)
    result = make_result(index, n, source=str(path), width=width, height=height, seed=index)
    return replace(result, name=name)


def stills(tmp_path: Path) -> list[ImageResult]:
    folder = tmp_path / "in"
    over = Detections([[-5.0, 10.0, 70.0, 50.0]], [0.9], [1])  # reaches past the image's left and right edges
    return [
        still(folder, "a.jpg", 0, 640, 480),
        still(folder, "sub/b.png", 1, 320, 200, n=5),
        replace(still(folder, "c.jpg", 2, 64, 48, n=0), detections=over),
        still(folder, "c.png", 3, 100, 80),  # its label would be labels/c.txt too
        make_result(4, error="cannot decode image: truncated", source=str(folder / "broken.jpg")),
        still(folder, "empty.jpg", 5, 50, 50, n=0),
    ]


def frames(count: int = 6, tracked: bool = True) -> list[ImageResult]:
    """A 25 fps video's frames 0, 2, 4...: track 7 in every frame but the third, track 9 in the first two."""
    out = []
    for k in range(count):
        frame = 2 * k
        boxes = [[10 + k, 10, 50 + k, 60]] + ([[100, 100, 140, 130]] if k < 2 else [])
        ids = [7 if k != 2 else -1] + ([9] if k < 2 else [])
        det = Detections(boxes, [0.8] * len(boxes), [0] * len(boxes), np.array(ids) if tracked else None)
        out.append(ImageResult("/v/clip.mp4", 7, det, dict(NAMES), 320, 240, name="clip.mp4", frame=frame,
                               time_s=frame / 25, image=np.zeros((240, 320, 3), np.uint8)))  # fmt: skip
    return out


def write(fmt: str, results: list[ImageResult], out: Path | None = None, **options: object) -> str:
    stream = None if fmt == "yolo" else io.StringIO()
    sink = open_sink(fmt, stream, copy.deepcopy(META), out=out, labels=LabelOptions(**options))  # type: ignore[arg-type]
    for r in results:
        sink.write(r)
    sink.close(None)
    return stream.getvalue() if stream is not None else ""


# --- YOLO -------------------------------------------------------------------------------------------------


def yolo_dataset_labels(folder: Path, names: dict[int, str] = NAMES) -> dict[str, dict]:
    """The labels as Ultralytics' own loader reads them for training: image name -> its label dict."""
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(folder / "data.yaml"))
    assert data["names"] == names
    dataset = YOLODataset(img_path=data["train"], data=data, task="detect", augment=False, imgsz=64)
    return {Path(lb["im_file"]).relative_to(folder / "images").as_posix(): lb for lb in dataset.labels}


def test_yolo_labels_round_trip_through_ultralytics_loader(tmp_path: Path) -> None:
    results = stills(tmp_path)
    write("yolo", results, tmp_path / "ds")
    labels = yolo_dataset_labels(tmp_path / "ds")
    names = {"a.jpg": 0, "sub/b.png": 1, "c.jpg": 2, "c_1.png": 3, "empty.jpg": 5}
    assert set(labels) == set(names)  # every image that was read, none of the failed one
    for name, index in names.items():
        record = rounded(image_record(results[index]))
        width, height = record["width"], record["height"]
        label = labels[name]
        assert label["shape"] == (height, width)
        boxes = np.array([d["box"] for d in record["detections"]]).reshape(-1, 4)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        expected = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2 / width, (boxes[:, 1] + boxes[:, 3]) / 2 / height,
                             (boxes[:, 2] - boxes[:, 0]) / width, (boxes[:, 3] - boxes[:, 1]) / height], axis=1)  # fmt: skip
        np.testing.assert_allclose(label["bboxes"], expected, atol=1e-4)
        assert label["cls"].ravel().tolist() == [d["class_id"] for d in record["detections"]]
    assert (tmp_path / "ds/images/sub/b.png").read_bytes() == (tmp_path / "in/sub/b.png").read_bytes()  # a copy
    assert (tmp_path / "ds/classes.txt").read_text() == "person\ncar\ndog\n"
    assert (tmp_path / "ds/labels/empty.txt").read_text() == ""  # reviewed: nothing there


def test_yolo_frames_are_images_and_save_conf_adds_a_column(tmp_path: Path) -> None:
    write("yolo", frames(2), tmp_path / "ds", save_conf=True)
    assert sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds").rglob("frame_*")) == [
        "images/clip/frame_000000.jpg", "images/clip/frame_000002.jpg",
        "labels/clip/frame_000000.txt", "labels/clip/frame_000002.txt"]  # fmt: skip
    rows = (tmp_path / "ds/labels/clip/frame_000000.txt").read_text().splitlines()
    assert [row.split() for row in rows] == [
        ["0", "0.093750", "0.145833", "0.125000", "0.208333", "0.8000"],
        ["0", "0.375000", "0.479167", "0.125000", "0.125000", "0.8000"]]  # fmt: skip


def test_yolo_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "data.yaml").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        write("yolo", stills(tmp_path), tmp_path / "ds")
    assert (tmp_path / "ds" / "data.yaml").read_text() == "mine"
    with pytest.raises(ConfigError, match="writes a folder"):
        write("yolo", [], None)


# --- COCO dataset -----------------------------------------------------------------------------------------


def test_coco_dataset_loads_and_scores_the_runs_own_detections_as_map_1(tmp_path: Path) -> None:
    results = stills(tmp_path) + frames(3)
    path = tmp_path / "dataset.json"
    path.write_text(write("coco-dataset", results, image_root="https://host/photos/"))
    results_file = json.loads(write_coco_results(results))  # the same run's detections, as `--format coco` has them
    doc = json.loads(path.read_text())
    assert [im["file_name"] for im in doc["images"]] == [
        "a.jpg", "sub/b.png", "c.jpg", "c.png", "empty.jpg",
        "clip/frame_000000.jpg", "clip/frame_000002.jpg", "clip/frame_000004.jpg"]  # fmt: skip
    assert doc["images"][1]["coco_url"] == "https://host/photos/sub/b.png"
    assert doc["videos"] == [{"id": 1, "name": "clip.mp4", "width": 320, "height": 240}]
    assert [(im.get("video_id"), im.get("frame_id")) for im in doc["images"][-3:]] == [(1, 0), (1, 2), (1, 4)]
    tracked = [a for a in doc["annotations"] if "track_id" in a]
    assert [a["track_id"] for a in tracked] == [7, 9, 7, 9] and tracked[0]["attributes"] == {"track_id": 7}
    assert all("score" in a for a in doc["annotations"])

    gt = COCO(str(path))
    by_position = {old["id"]: new["id"] for old, new in zip(results_file["images"], doc["images"], strict=True)}
    detections = [{**a, "image_id": by_position[a["image_id"]]} for a in results_file["annotations"]]
    evaluator = COCOeval_faster(gt, gt.loadRes(detections), "bbox", print_function=lambda *a, **k: None)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)


def write_coco_results(results: list[ImageResult]) -> str:
    stream = io.StringIO()
    sink = open_sink("coco", stream, copy.deepcopy(META))
    for r in results:
        sink.write(r)
    sink.close(None)
    return stream.getvalue()


def test_coco_dataset_streams_its_images(tmp_path: Path) -> None:
    stream = io.StringIO()
    sink = open_sink("coco-dataset", stream, copy.deepcopy(META), labels=LabelOptions())
    sink.write(stills(tmp_path)[0])
    assert '"file_name":"a.jpg"' in stream.getvalue()  # on its way out before the run ends
    sink.close(None)
    assert json.loads(stream.getvalue())["images"][0]["file_name"] == "a.jpg"


# --- Label Studio -----------------------------------------------------------------------------------------


def test_labelstudio_image_tasks_validate_and_keep_the_boxes(tmp_path: Path) -> None:
    results = stills(tmp_path)
    tasks = json.loads(write("labelstudio", results, tmp_path / "tasks.json", image_root="/data/local-files/?d=in/"))
    jsonschema.validate(tasks, SCHEMA)
    assert [t["data"]["image"] for t in tasks] == [
        "/data/local-files/?d=in/a.jpg", "/data/local-files/?d=in/sub/b.png", "/data/local-files/?d=in/c.jpg",
        "/data/local-files/?d=in/c.png", "/data/local-files/?d=in/empty.jpg"]  # fmt: skip
    first = tasks[0]["predictions"][0]
    record = rounded(image_record(results[0]))
    assert first["model_version"] == "demo"
    assert [r["score"] for r in first["result"]] == [d["confidence"] for d in record["detections"]]
    assert first["score"] == pytest.approx(np.mean([d["confidence"] for d in record["detections"]]), abs=1e-4)
    x1, y1, x2, y2 = record["detections"][0]["box"]
    value = first["result"][0]["value"]
    assert (value["x"], value["y"]) == (pytest.approx(100 * x1 / 640, abs=1e-4), pytest.approx(100 * y1 / 480, abs=1e-4))
    assert value["rectanglelabels"] == [record["detections"][0]["class_name"]]
    assert tasks[2]["predictions"][0]["result"][0]["value"]["x"] == 0  # clipped to the image
    assert tasks[4]["predictions"][0]["result"] == []
    config = (tmp_path / "tasks.label_config.xml").read_text()
    assert '<Image name="image" value="$image"/>' in config and '<Label value="car"/>' in config


def test_labelstudio_video_tracks_are_regions_of_keyframes(tmp_path: Path) -> None:
    tasks = json.loads(write("labelstudio", frames(), tmp_path / "v.json"))
    jsonschema.validate(tasks, SCHEMA)
    (task,) = tasks
    assert task["data"] == {"video": "/v/clip.mp4"}
    regions = {r["id"]: r for r in task["predictions"][0]["result"]}
    assert set(regions) == {"t7", "t9", "b0"}  # frame 4's box of no track is a region of its own
    seven = regions["t7"]["value"]
    assert [k["frame"] for k in seven["sequence"]] == [1, 3, 7, 9, 11]  # 1-based; frame 4 (index 2) has no track 7
    assert [k["enabled"] for k in seven["sequence"]] == [True, False, True, True, False]  # off before a gap, at the end
    assert seven["sequence"][1]["time"] == pytest.approx(3 / 25)
    assert seven["labels"] == ["person"] and seven["framesCount"] == 11 and seven["duration"] == pytest.approx(11 / 25)
    assert 'framerate="25"' in (tmp_path / "v.label_config.xml").read_text()


def test_labelstudio_never_replaces_a_config_beside_it(tmp_path: Path) -> None:
    (tmp_path / "t.label_config.xml").write_text("mine")
    write("labelstudio", stills(tmp_path)[:1], tmp_path / "t.json")
    assert (tmp_path / "t.label_config.xml").read_text() == "mine"
    assert (tmp_path / "t_1.label_config.xml").read_text().startswith("<View>")


@pytest.mark.parametrize(("root", "name", "expected"), [
    (None, "a b.jpg", "a b.jpg"),
    ("https://host/x/", "sub/a b#1.jpg", "https://host/x/sub/a%20b%231.jpg"),
    ("/data/local-files/?d=photos/", "a b.jpg", "/data/local-files/?d=photos/a%20b.jpg"),
    ("s3://bucket/pre", "a b.jpg", "s3://bucket/pre/a b.jpg"),
])  # fmt: skip
def test_image_references(root: str | None, name: str, expected: str) -> None:
    assert image_reference(root, name) == expected


def test_labelstudio_sdk_accepts_the_tasks_and_its_yolo_converter_agrees(tmp_path: Path) -> None:
    """Label Studio's own code: its labeling-config validator on every prediction, and its YOLO importer
    (label_studio_sdk.converter) reading our YOLO folder gives our Label Studio boxes. label-studio-sdk
    pins NumPy < 2.3 and a second OpenCV, so it is not a test dependency: install it apart with
    `pip install --no-deps --target DIR label-studio-sdk` (plus its imports) and put DIR on PYTHONPATH."""
    sdk = pytest.importorskip("label_studio_sdk.label_interface")
    from label_studio_sdk.converter.imports.yolo import convert_yolo_to_ls

    results = [r for r in stills(tmp_path) if r.ok and "/" not in r.name]  # the converter lists images/ flat
    out = tmp_path / "ls.json"
    ours = json.loads(write("labelstudio", results, out, image_root="/data/local-files/?d=images/"))
    interface = sdk.LabelInterface((tmp_path / "ls.label_config.xml").read_text())
    for task in ours:
        assert interface.validate_prediction(task["predictions"][0], return_errors=True) == []
    broken = copy.deepcopy(ours[0]["predictions"][0])
    broken["result"][0]["value"]["x"] = 150.0
    assert interface.validate_prediction(broken, return_errors=True)  # the validator can say no
    video = tmp_path / "v.json"
    video_tasks = json.loads(write("labelstudio", frames(), video))
    video_interface = sdk.LabelInterface((tmp_path / "v.label_config.xml").read_text())
    assert video_interface.validate_prediction(video_tasks[0]["predictions"][0], return_errors=True) == []

    write("yolo", results, tmp_path / "ds", save_conf=True)
    theirs_file = tmp_path / "theirs.json"
    convert_yolo_to_ls(str(tmp_path / "ds"), str(theirs_file), out_type="predictions",
                       image_root_url="/data/local-files/?d=images/", image_ext=".jpg,.png")  # fmt: skip
    theirs = {t["data"]["image"]: t["predictions"][0]["result"] for t in json.loads(theirs_file.read_text())}
    for task in ours:
        mine = task["predictions"][0]["result"]
        other = theirs[task["data"]["image"].replace("c.png", "c_1.png")]  # the dataset's name for it
        assert len(mine) == len(other)
        for a, b in zip(mine, other):
            assert a["value"]["rectanglelabels"] == b["value"]["rectanglelabels"]
            assert a["score"] == pytest.approx(b.get("score", 0), abs=1e-4)
            for key in ("x", "y", "width", "height"):
                assert a["value"][key] == pytest.approx(b["value"][key], abs=1e-3)
            assert (a["original_width"], a["original_height"]) == (b["original_width"], b["original_height"])
