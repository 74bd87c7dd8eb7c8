"""detect --format yolo / coco-dataset / labelstudio from a real run of the demo model: the files agree
with the run's own records and load in the tools' loaders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES
from tests.outputs.test_label_formats import SCHEMA, xywhn, yolo_dataset_labels

pytestmark = pytest.mark.slow
MODEL = ["--model", "demo", "--threads", "1", "--backend", "torch", "--quiet"]
runner = CliRunner()


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    folder = tmp_path / "shapes"
    folder.mkdir()
    for image in sorted((SAMPLES / "shapes").glob("*.jpg"))[:6]:
        shutil.copy(image, folder / image.name)
    return folder


def detect(*args: str) -> None:
    result = runner.invoke(app, ["detect", *args, *MODEL])
    assert result.exit_code == 0, result.output


def test_a_run_as_yolo_coco_dataset_and_labelstudio(tmp_path: Path, shapes: Path) -> None:
    detect(str(shapes), "--out", str(tmp_path / "run.json"))
    detect(str(shapes), "--out", str(tmp_path / "run.coco.json"))
    detect(str(shapes), "--format", "yolo", "--out", str(tmp_path / "ds"))
    detect(str(shapes), "--format", "coco-dataset", "--out", str(tmp_path / "dataset.json"))
    detect(str(shapes), "--format", "labelstudio", "--out", str(tmp_path / "tasks.json"), "--image-root", "/img/")
    images = json.loads((tmp_path / "run.json").read_text())["images"]
    assert sum(len(r["detections"]) for r in images) > 10

    names = {int(k): v for k, v in json.loads((tmp_path / "run.json").read_text())["model"]["names"].items()}
    labels = yolo_dataset_labels(tmp_path / "ds", names)  # Ultralytics' loader, as `yolo train` would read them
    for record in images:
        label = labels[Path(record["source"]).name]
        np.testing.assert_allclose(label["bboxes"], xywhn(record), atol=1e-4)
        assert label["cls"].ravel().tolist() == [d["class_id"] for d in record["detections"]]

    gt = COCO(str(tmp_path / "dataset.json"))  # the dataset file, scoring the run's own detections
    dataset, results = (
        json.loads((tmp_path / "dataset.json").read_text()),
        json.loads((tmp_path / "run.coco.json").read_text()),
    )
    ids = {Path(a["file_name"]).name: a["id"] for a in dataset["images"]}
    by_id = {im["id"]: ids[Path(im["file_name"]).name] for im in results["images"]}
    detections = [{**a, "image_id": by_id[a["image_id"]]} for a in results["annotations"]]
    evaluator = COCOeval_faster(gt, gt.loadRes(detections), "bbox", print_function=lambda *a, **k: None)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)

    import jsonschema

    tasks = json.loads((tmp_path / "tasks.json").read_text())
    jsonschema.validate(tasks, SCHEMA)
    assert [t["data"]["image"] for t in tasks] == [f"/img/{Path(r['source']).name}" for r in images]
    assert [len(t["predictions"][0]["result"]) for t in tasks] == [len(r["detections"]) for r in images]


def test_a_tracked_video_as_labelstudio_and_coco_dataset(tmp_path: Path) -> None:
    video = SAMPLES / "video" / "shapes.mp4"
    detect(str(video), "--track", "--end", "1", "--format", "labelstudio", "--out", str(tmp_path / "v.json"))
    detect(str(video), "--track", "--end", "1", "--format", "coco-dataset", "--out", str(tmp_path / "v.coco.json"))
    import jsonschema

    (task,) = json.loads((tmp_path / "v.json").read_text())
    jsonschema.validate([task], SCHEMA)
    regions = [r for r in task["predictions"][0]["result"] if r["id"].startswith("t")]
    assert regions and all(len(r["value"]["sequence"]) > 1 for r in regions[:1])
    doc = json.loads((tmp_path / "v.coco.json").read_text())
    assert len(doc["images"]) == 25 and doc["videos"][0]["name"] == "shapes.mp4"
    tracked = {a["track_id"] for a in doc["annotations"] if "track_id" in a}
    assert {int(r["id"][1:]) for r in regions} == tracked  # the same tracks in both


def test_label_format_flags_are_checked_before_the_model_loads(tmp_path: Path, shapes: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    cases = [
        (["--format", "yolo"], "give --out DIR/"),
        (["--format", "yolo", "--out", str(tmp_path / "full")], "not empty"),
        (["--format", "yolo", "--out", str(shapes / "ds")], "inside the input folder"),
        (["--format", "json", "--save-conf"], "--save-conf"),
        (["--format", "yolo", "--out", str(tmp_path / "new"), "--image-root", "x/"], "--image-root"),
    ]
    for args, text in cases:
        result = runner.invoke(app, ["detect", str(shapes), "-r", *args, "--model", "no-such-model"])
        assert result.exit_code == 2 and text in result.output, (args, result.output)
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep" and not (tmp_path / "new").exists()
