"""`attn-detect compare`: formats, a model that fails to load, side-by-side images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES, TEST_IMGSZ

MODEL = ["--model", "yolo26n.yaml", "--imgsz", str(TEST_IMGSZ), "--conf", "0.0", "--max-det", "7", "--threads", "1"]
runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_compare_formats_agree_and_a_bad_model_does_not_stop_the_others(tmp_path: Path) -> None:
    images = str(SAMPLES / "shapes")
    args = ["compare", images, "-m", "yolo26n.yaml,no-such-model", "-m", "yolo26n.yaml", *MODEL[2:]]
    as_json = invoke(*args, "--json")
    assert as_json.exit_code == 3  # one model failed to load
    assert "no-such-model" in as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["command"] == "compare" and len(doc["images"]) == 24
    report = doc["summary"]
    assert [m["name"] for m in report["models"]] == ["yolo26n.yaml", "yolo26n.yaml#2"]
    assert report["failed_models"][0]["name"] == "no-such-model"
    assert report["agreement"][0]["f1"] == 1.0
    rows = list(csv.DictReader(io.StringIO(invoke(*args, "--format", "csv").stdout)))
    assert [int(r["detections"]) for r in rows] == [m["detections"] for m in report["models"]] == [24 * 7] * 2
    lines = invoke(*args, "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 24 and set(json.loads(lines[0])["models"]) == {"yolo26n.yaml", "yolo26n.yaml#2"}
    table = invoke(*args, "--save", str(tmp_path / "grid"))
    assert "images/s" in table.stdout and "Agreement" in table.stdout
    assert len(list((tmp_path / "grid").glob("*.jpg"))) == 24


def test_compare_needs_two_models() -> None:
    result = invoke("compare", str(SAMPLES / "bus.jpg"), "-m", "yolo26n.yaml")
    assert result.exit_code == 2 and "at least two models" in result.stderr


def test_ctrl_c_exits_130_with_a_whole_document(monkeypatch) -> None:
    """Ctrl-C during compare: exit 130 (it was 0), the images done are in the JSON, and its summary."""
    from detect_cli.tasks import compare as task

    real, calls = task._run_one, []

    def interrupted_on_fifth(*args):
        calls.append(1)
        if len(calls) == 5:  # two models: the third image
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(task, "_run_one", interrupted_on_fifth)
    models = ["-m", "yolo26n.yaml", "-m", "yolo26n.yaml", *MODEL[2:]]
    result = invoke("compare", str(SAMPLES / "shapes"), *models, "--json")
    assert result.exit_code == 130, result.stderr
    assert "interrupted" in result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["images"]) == 2 and doc["summary"]["interrupted"] is True
    assert [m["images"] for m in doc["summary"]["models"]] == [2, 2]


def test_a_model_broken_on_every_image_stops_the_run_with_its_cause(monkeypatch) -> None:
    """The engine's failure watch guards compare too: one error naming the model and the cause, not an
    error record per image (the second model fails on a blank image as well)."""
    from detect_cli.models import open as opening
    from detect_cli.models.detector import Detector

    real_predict, real_open, opened = Detector.predict, opening.open_model, []

    def predict(self, images, options):
        if getattr(self, "broken", False):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real_predict(self, images, options)

    def open_and_break_the_second(*args, **kwargs):
        model = real_open(*args, **kwargs)
        opened.append(model)
        model.detector.broken = len(opened) == 2
        return model

    monkeypatch.setattr(Detector, "predict", predict)
    monkeypatch.setattr(opening, "open_model", open_and_break_the_second)
    result = invoke(
        "compare",
        str(SAMPLES / "shapes"),
        "-m",
        "yolo26n.yaml",
        "-m",
        "yolo26n.yaml",
        *MODEL[2:],
        "--json",
        "--backend",
        "torch",
    )
    assert result.exit_code == 1, result.stderr
    assert "model yolo26n.yaml#2: the model failed on" in result.stderr and "blank image too" in result.stderr
    assert "CUDA error" in result.stderr
    assert json.loads(result.stdout)["images"] == []  # stopped on the first image; the document is whole
