"""A model that breaks mid-run (out of memory, a broken runtime) stops `detect` with exit 1 and its
cause in one line, instead of turning every later input into an error record (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES, TEST_IMGSZ

pytestmark = pytest.mark.slow  # loads a model
MODEL = ["--model", "yolo26n.yaml", "--imgsz", str(TEST_IMGSZ), "--conf", "0.0", "--max-det", "3", "--threads", "1"]


@pytest.fixture
def breaks_after_two(monkeypatch: pytest.MonkeyPatch) -> None:
    from detect_cli.models.detector import Detector

    real = Detector.predict
    seen = {"images": 0}

    def predict(self, images, options):
        seen["images"] += len(images)
        if seen["images"] > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(a long allocator report)")
        return real(self, images, options)

    monkeypatch.setattr(Detector, "predict", predict)


@pytest.mark.parametrize("name", ["r.jsonl", "r.json"])
def test_a_broken_model_exits_1_with_its_cause(breaks_after_two, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = CliRunner().invoke(app, [str(SAMPLES / "shapes"), *MODEL, "--out", str(out), "--quiet"])
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "CUDA out of memory" in errors[0] and "blank image" in errors[0] and "--batch" in errors[0]
    text = out.read_text(encoding="utf-8")  # the sink was closed: its records (and the JSON document) complete
    records = [json.loads(line) for line in text.splitlines()] if name.endswith("l") else json.loads(text)["images"]
    assert [r["status"] for r in records] == ["ok", "ok"]
