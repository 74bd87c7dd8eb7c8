"""--format yolo: the dataset folder, read back by Ultralytics' own dataset loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.outputs.records import image_record
from detect_cli.outputs.sinks import rounded
from tests.outputs.test_label_formats import frames, stills, write, xywhn, yolo_dataset_labels


def test_yolo_labels_round_trip_through_ultralytics_loader(tmp_path: Path) -> None:
    results = stills(tmp_path)
    write("yolo", results, tmp_path / "ds")
    labels = yolo_dataset_labels(tmp_path / "ds")
    names = {"a.jpg": 0, "sub/b.png": 1, "c.jpg": 2, "c_1.png": 3, "empty.jpg": 5}
    assert set(labels) == set(names)  # every image that was read, none of the failed one
    for name, index in names.items():
        record = rounded(image_record(results[index]))
        label = labels[name]
        assert label["shape"] == (record["height"], record["width"])
        np.testing.assert_allclose(label["bboxes"], xywhn(record), atol=1e-4)
        assert label["cls"].ravel().tolist() == [d["class_id"] for d in record["detections"]]
    assert (tmp_path / "ds/images/sub/b.png").read_bytes() == (tmp_path / "in/sub/b.png").read_bytes()  # a copy
    assert (tmp_path / "ds/classes.txt").read_text() == "person\ncar\ndog\n"
    assert (tmp_path / "ds/labels/empty.txt").read_text() == ""  # reviewed: nothing there


def test_yolo_frames_are_images_and_save_conf_adds_a_column(tmp_path: Path) -> None:
    write("yolo", frames(2), tmp_path / "ds", save_conf=True)
    assert sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds").rglob("frame_*")) == [
        "images/clip/frame_000000.jpg",
        "images/clip/frame_000002.jpg",
        "labels/clip/frame_000000.txt",
        "labels/clip/frame_000002.txt",
    ]
    rows = (tmp_path / "ds/labels/clip/frame_000000.txt").read_text().splitlines()
    assert [row.split() for row in rows] == [
        ["0", "0.093750", "0.145833", "0.125000", "0.208333", "0.8000"],
        ["0", "0.375000", "0.479167", "0.125000", "0.125000", "0.8000"],
    ]


def test_yolo_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "data.yaml").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        write("yolo", stills(tmp_path), tmp_path / "ds")
    assert (tmp_path / "ds" / "data.yaml").read_text() == "mine"
    with pytest.raises(ConfigError, match="writes a folder"):
        write("yolo", [], None)
