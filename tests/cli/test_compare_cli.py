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
