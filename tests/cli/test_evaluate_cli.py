"""`attn-detect evaluate` with malformed labels: exit 2, one line naming the file and the record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES, TEST_IMGSZ

SHAPES = SAMPLES / "shapes"
DEMO = ["--model", "demo", "--imgsz", "320", "--threads", "1"]
runner = CliRunner()
MODEL = ["--model", "yolo26n.yaml", "--imgsz", str(TEST_IMGSZ), "--conf", "0.0", "--max-det", "7", "--threads", "1"]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_bad_coco_record_stops_before_the_model_loads(tmp_path: Path) -> None:
    doc = json.loads((SHAPES / "annotations.json").read_text())
    doc["annotations"][2]["bbox"] = [1, 2]
    labels = tmp_path / "annotations.json"
    labels.write_text(json.dumps(doc))
    # a model that does not exist: the labels are checked first, so its error never shows
    result = runner.invoke(app, ["evaluate", str(SHAPES), "--labels", str(labels), "--model", "nope.pt"])
    assert result.exit_code == 2, result.output
    ann = doc["annotations"][2]["id"]
    assert error_lines(result.stderr) == [
        f"error: {labels}: annotation #3 (id {ann}): bbox must be 4 numbers [x, y, w, h], got [1, 2]"
    ]
    assert "Traceback" not in result.output and result.stdout == ""


def test_unknown_ids_in_coco(tmp_path: Path) -> None:
    doc = json.loads((SHAPES / "annotations.json").read_text())
    doc["annotations"][0]["category_id"] = 42
    labels = tmp_path / "gt.json"
    labels.write_text(json.dumps(doc))
    result = runner.invoke(app, ["evaluate", str(SHAPES), "--labels", str(labels), *DEMO])
    assert result.exit_code == 2, result.output
    message = f"error: {labels}: annotation #1 (id 1): category_id 42 is not in 'categories'"
    assert error_lines(result.stderr) == [message]


def test_a_bad_yolo_line_names_its_file(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    shutil.copytree(SHAPES / "labels", labels)
    for n in range(3):
        shutil.copy(SHAPES / f"shape_0000{n}.jpg", images)
    (labels / "shape_00001.txt").write_text("1 0.5 0.5 0.1 0.1\n1 0.5 0.5\n")
    result = runner.invoke(app, ["evaluate", str(images), "--labels", str(labels), *DEMO])
    assert result.exit_code == 2, result.output
    bad = labels / "shape_00001.txt"
    assert error_lines(result.stderr) == [
        f"error: {bad}: line 2: expected 5 numbers 'cls cx cy w h' (or a polygon 'cls x1 y1 x2 y2 ...'), not 3, "
        "got '1 0.5 0.5'"
    ]


def test_good_labels_still_score(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for n in range(3):
        shutil.copy(SHAPES / f"shape_0000{n}.jpg", images)
    (images / "broken.jpg").write_text("not an image")
    result = runner.invoke(app, ["evaluate", str(images), "--labels", str(SHAPES / "labels"), *DEMO, "--json"])
    assert result.exit_code == 3, result.output  # the broken image fails; the others are scored
    doc = json.loads(result.stdout)["summary"]
    assert doc["images"] == 3 and doc["overall"]["map50"] > 0.5
    assert [f["source"] for f in doc["failed"]] == [str(images / "broken.jpg")]


def test_evaluate_command_json_and_table() -> None:
    shapes = SAMPLES / "shapes"
    args = [str(shapes), "--labels", str(shapes / "annotations.json"), *MODEL[:4], "--threads", "1"]
    as_json = runner.invoke(app, ["evaluate", *args, "--json"])
    assert as_json.exit_code == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["command"] == "evaluate" and doc["classes"][-1]["class"] == "all"
    report = doc["summary"]
    assert report["images"] == 24 and report["overall"]["instances"] == 78
    assert report["overall"]["map50"] < 0.05  # random weights find nothing
    table = runner.invoke(app, ["evaluate", *args, "--labels", str(shapes / "labels")])
    assert table.exit_code == 0 and "mAP50-95" in table.stdout and "│ all " in table.stdout


def test_a_video_among_labelled_images_is_an_error_record() -> None:
    """Box labels name image files: a video's frames would all be "unlabelled", a table of zeros."""
    video, image = SAMPLES / "video" / "shapes.mp4", sorted(SHAPES.glob("*.jpg"))[0]
    result = CliRunner().invoke(
        app, ["evaluate", str(video), str(image), "--labels", str(SHAPES / "annotations.json"), *MODEL, "--json"]
    )
    assert result.exit_code == 3, result.stderr
    assert f"{video}: a video: box labels are per image file" in result.stderr
    assert json.loads(result.stdout)["summary"]["images"] == 1


def test_ctrl_c_scores_the_images_done_and_exits_130(monkeypatch) -> None:
    from detect_cli.tasks import detect as job

    real = job.detect_stream

    def interrupted(*args, **kwargs):
        for n, result in enumerate(real(*args, **kwargs)):
            if n == 3:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(job, "detect_stream", interrupted)
    shapes = SAMPLES / "shapes"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(shapes),
            "--labels",
            str(shapes / "annotations.json"),
            "--model",
            "demo",
            "--backend",
            "torch",
            "--json",
        ],
    )
    assert result.exit_code == 130, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["images"] == 3 and doc["summary"]["interrupted"] is True
    assert doc["classes"][-1]["class"] == "all" and doc["classes"][-1]["instances"] > 0


@pytest.mark.slow
def test_tracks_without_ground_truth_in_the_frames_that_ran_give_null_not_nan(tmp_path: Path) -> None:
    """MOTA has no denominator when no ground-truth box is in the frames that ran: null and a warning,
    never NaN or -Infinity (which strict JSON parsers refuse)."""
    import cv2
    import numpy as np

    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for k in range(3):
        writer.write(np.full((48, 64, 3), 60 * k, np.uint8))
    writer.release()
    gt = tmp_path / "gt.txt"
    gt.write_text("100,1,5,5,10,10,1,1,1\n")  # frame 100: the clip has 3
    result = CliRunner().invoke(app, ["evaluate", str(video), "--tracks", str(gt), *MODEL, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "NaN" not in text and "Infinity" not in text
    record = json.loads(text)["sequences"][0]
    assert record["mota"] is None and record["num_objects"] == 0 and record["frames"] == 3
    assert "MOTA is undefined (null): no ground-truth box in the frames that ran" in result.stderr
