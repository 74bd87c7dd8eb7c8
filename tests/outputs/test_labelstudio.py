"""--format labelstudio: tasks valid by Label Studio's schema (and its SDK's validator and YOLO converter
where label-studio-sdk is installed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from detect_cli.outputs.records import image_record
from detect_cli.outputs.sinks import rounded
from tests.outputs.test_label_formats import SCHEMA, frames, stills, write


def test_labelstudio_image_tasks_validate_and_keep_the_boxes(tmp_path: Path) -> None:
    results = stills(tmp_path)
    tasks = json.loads(write("labelstudio", results, tmp_path / "tasks.json", image_root="/data/local-files/?d=in/"))
    jsonschema.validate(tasks, SCHEMA)
    assert [t["data"]["image"] for t in tasks] == [
        "/data/local-files/?d=in/a.jpg",
        "/data/local-files/?d=in/sub/b.png",
        "/data/local-files/?d=in/c.jpg",
        "/data/local-files/?d=in/c.png",
        "/data/local-files/?d=in/empty.jpg",
    ]
    first = tasks[0]["predictions"][0]
    record = rounded(image_record(results[0]))
    assert first["model_version"] == "demo"
    assert [r["score"] for r in first["result"]] == [d["confidence"] for d in record["detections"]]
    assert first["score"] == pytest.approx(np.mean([d["confidence"] for d in record["detections"]]), abs=1e-4)
    x1, y1, x2, y2 = record["detections"][0]["box"]
    value = first["result"][0]["value"]
    assert value["x"] == pytest.approx(100 * x1 / 640, abs=1e-4)
    assert value["y"] == pytest.approx(100 * y1 / 480, abs=1e-4)
    assert value["width"] == pytest.approx(100 * (x2 - x1) / 640, abs=1e-4)
    assert value["height"] == pytest.approx(100 * (y2 - y1) / 480, abs=1e-4)
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
    convert_yolo_to_ls(
        str(tmp_path / "ds"),
        str(theirs_file),
        out_type="predictions",
        image_root_url="/data/local-files/?d=images/",
        image_ext=".jpg,.png",
    )
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
