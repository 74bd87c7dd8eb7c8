"""--precision int8 and export --int8 from the command line: refused combinations before the model
loads, and an INT8 export written only when it passes its gate. (A cached INT8 model started as a
user starts it: tests/models/test_int8_trial.py.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.models import calibration, int8
from detect_cli.models.int8_gate import GATE
from tests.conftest import SAMPLES

IMAGE = str(SAMPLES / "shapes" / "shape_00003.jpg")
PROBE = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["PROBE_OUT"], "w").write(json.dumps(sorted(sys.modules))))
from detect_cli.cli.app import run
run()
"""
needs_nncf = pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="NNCF is the [int8] extra")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate any sane INT8 model passes on any CPU, and a small calibration set: these tests are
    about the command, not the gate (tests/models/test_int8_gate.py)."""
    for key, value in {"min_gain": 0.0, "min_f1": 0.8, "max_class_drop": 0.3, "max_map_drop": 0.1}.items():
        monkeypatch.setitem(GATE, key, value)
    scenes = calibration.demo_scenes(16, 30)
    monkeypatch.setattr(calibration, "demo_scenes", lambda *_: scenes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--precision", "int8", "--backend", "torch"],
            "--precision int8 runs on OpenVINO, not torch (--backend torch)",
        ),
        (["--precision", "int8", "--backend", "onnx"], "not onnx (--backend onnx)"),
        (["--precision", "int8", "--calibration", "no-such-folder"], "--calibration no-such-folder: no such file"),
        (["--precision", "int4"], "'int4' is not one of 'fp32', 'int8'"),
    ],
)
def test_impossible_int8_runs_are_refused_before_the_model_loads(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATTN_DETECT_BACKEND")
    result = CliRunner().invoke(app, [IMAGE, "--model", "no-such-model.pt", *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert message in " ".join(result.stderr.split())  # the model named is never looked for: the flags fail first
    assert "no-such-model.pt" not in result.stderr


@pytest.mark.slow
@needs_nncf
def test_export_int8_writes_a_model_that_passed_and_nothing_that_failed(
    tmp_path: Path, lenient: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["export", "demo", "--to", "openvino", "--int8", "--json"]
    made = CliRunner().invoke(app, [*base, "--dir", str(tmp_path / "ok")])
    assert made.exit_code == 0, made.stderr
    (record,) = json.loads(made.stdout)["exports"]
    assert record["format"] == "openvino-int8" and record["int8"]["int8"]["passed"] is True
    assert record["verification"]["passed"] is True  # the FP32 export it was made from matched PyTorch
    folder = Path(record["path"])
    assert folder.name == "demo_int8_openvino_model" and {p.suffix for p in folder.iterdir()} >= {".xml", ".bin"}
    assert [p.name for p in (tmp_path / "ok").iterdir()] == [folder.name]  # made under the cache, moved in
    again = CliRunner().invoke(
        app, ["detect", IMAGE, "--model", str(folder), "--format", "json"], env={"ATTN_DETECT_BACKEND": ""}
    )
    assert again.exit_code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["images"][0]["detections"]  # the exported folder runs
    assert doc["model"]["backend"]["precision"] == "int8"  # the header says what its metadata says
    assert doc["model"]["nms_free"] is True

    GATE["min_f1"] = 1.01  # no model can pass: the refused one is not written
    monkeypatch.setattr(int8, "PRESETS", ("performance",))
    refused = CliRunner().invoke(app, [*base, "--dir", str(tmp_path / "refused")])
    assert refused.exit_code == 1
    assert "did not pass its accuracy gate (agreement F1" in " ".join(refused.stderr.split())
    assert json.loads(refused.stdout)["exports"][0]["path"] is None
    assert [p.name for p in (tmp_path / "refused").iterdir()] == []  # not even the FP32 it was made from


def _few_images(folder: Path, n: int = 12) -> Path:
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"img_{i}.png"), np.full((48, 64, 3), 9 * i, np.uint8))
    return folder


def _no_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("the model was loaded before the calibration images were counted")


@needs_nncf
@pytest.mark.parametrize("option", ["--calibration", "--data"])
def test_export_int8_with_too_few_images_is_refused_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    from detect_cli.models import detector

    monkeypatch.setattr(detector, "load_detector", _no_model)
    folder = _few_images(tmp_path / "few")
    (tmp_path / "data.yaml").write_text("path: .\nval: few\nnames: {0: a}\n")
    given = str(folder) if option == "--calibration" else str(tmp_path / "data.yaml")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", "demo", "--to", "openvino", "--int8", option, given, "--dir", str(out)])
    said = " ".join(result.stderr.split())
    assert result.exit_code == 2, result.stderr
    assert f"INT8 needs at least 40 images to calibrate on and check; {option} {given} gave 12" in said
    assert ("--calibration" in said) == (option == "--calibration")  # it names the option that was given
    assert "unexpected error" not in said and result.stdout == "" and not out.exists()


def test_export_calibration_without_int8_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detect_cli.models import detector

    monkeypatch.setattr(detector, "load_detector", _no_model)
    folder = _few_images(tmp_path / "few", 1)
    result = CliRunner().invoke(app, ["export", "demo", "--to", "openvino", "--calibration", str(folder)])
    assert result.exit_code == 2, result.stderr
    assert f"--calibration {folder} is for --int8, and this export is not one" in " ".join(result.stderr.split())


def test_export_int8_works_under_the_cache_and_sweeps_what_a_killed_one_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILLed export --int8 of an older attn-detect left a 5 MB .attn-detect-int8-* folder in --dir:
    the next one removes it (ours by its name, a day old), and makes its own under the cache."""
    import os
    import time

    from detect_cli.tasks import export as export_task

    monkeypatch.setenv("ATTN_DETECT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    left = out / ".attn-detect-int8-k1lled_8"
    left.mkdir(parents=True)
    (left / "demo.bin").write_bytes(b"\0" * 1000)
    mine = out / ".attn-detect-int8-notes"  # not a name we make: the user's
    mine.mkdir()
    day_ago = time.time() - 25 * 3600
    for path in (left, mine):
        os.utime(path, (day_ago, day_ago))
    work = export_task._work_dir(out)
    assert work == tmp_path / "cache" / "tmp" and not left.exists() and mine.exists()
