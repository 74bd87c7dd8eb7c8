"""--precision int8 through `choose_backend`: quantized once, used only when the gate passes, cached
under its own key, refused models and tampered entries handled as FP32 ones are."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.models import int8 as int8_module
from detect_cli.models import openvino_direct
from detect_cli.models import runtime as backends
from detect_cli.models.calibration import TooFewImages, demo_scenes
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.int8_gate import GATE
from detect_cli.models.lookup import resolve_model
from detect_cli.models.runtime_cache import cache_key
from detect_cli.models.runtime_request import Int8Request
from tests.conftest import SAMPLES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="NNCF is the [int8] extra"),
]
OPTIONS = PredictOptions(imgsz=320)
SCENES = demo_scenes(16, 30)
REQUEST = Int8Request(lambda: SCENES, "scenes")


@pytest.fixture(scope="module")
def demo():
    return load_detector(resolve_model("demo"), device="cpu")


@pytest.fixture
def cache(demo_cache: Path) -> Path:
    """With the demo model's verified FP32 entry in it already (conftest): INT8 is made from that export,
    which is not what these tests are about (tests/models/test_runtime.py makes its own)."""
    return demo_cache / "backends"


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(backends.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "backends"


@pytest.fixture
def quantized(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The presets quantized, in order (NNCF really runs)."""
    calls: list[str] = []
    real = int8_module.quantize

    def counting(*args, **kwargs):
        calls.append(kwargs.get("preset", "mixed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(int8_module, "quantize", counting)
    return calls


@pytest.fixture(autouse=True)
def any_gain(monkeypatch: pytest.MonkeyPatch) -> None:
    """INT8 is made from the FP32 OpenVINO export: on a loaded machine a first run may time OpenVINO at
    1.0x torch (kept out) or under 1.2x (ONNX Runtime tried, and maybe faster). Speed is not the subject."""
    from detect_cli.models import runtime_trial

    monkeypatch.setattr(runtime_trial, "MIN_GAIN", 0.0)
    monkeypatch.setattr(runtime_trial, "GOOD_ENOUGH", 0.0)


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate any sane INT8 model passes on any CPU: these tests are about what happens after it
    (test_int8_gate.py holds the gate itself to known answers). Speed is never asserted."""
    for key, value in {"min_gain": 0.0, "min_f1": 0.8, "max_class_drop": 0.3, "max_map_drop": 0.1}.items():
        monkeypatch.setitem(GATE, key, value)


def _decisions(cache: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in cache.glob("*/decision.json")}


def test_int8_runs_once_it_passes_is_cached_apart_and_rebuilt_when_tampered(
    demo, cache: Path, quantized: list[str], lenient: None
) -> None:
    chosen, choice = backends.choose_backend(demo, "auto", OPTIONS, int8=REQUEST)
    assert (choice.backend, choice.precision, chosen.precision, choice.cached) == ("openvino", "int8", "int8", False)
    assert isinstance(chosen, openvino_direct.OpenVINODetector) and chosen.names == demo.names
    assert choice.int8 is not None and choice.int8["int8"]["passed"]
    assert choice.int8["int8"]["images"] == len(SCENES.held_out) and choice.int8["preset"] == "performance"
    assert chosen.backend_reason.startswith("int8: agreement F1 ") and "fp32 here" in chosen.backend_reason
    assert quantized == ["performance"]  # the fastest preset passed: the other is not tried
    decisions = _decisions(cache)
    int8_key = cache_key(demo, 320, 1, precision="int8", calibration="scenes")
    assert set(decisions) == {cache_key(demo, 320, 1), int8_key}  # FP32 and INT8 entries, apart
    assert decisions[int8_key]["precision"] == "int8" and Path(choice.path).is_relative_to(cache / int8_key)
    ((dets, _),) = chosen.predict([SCENES.held_out[0]], OPTIONS)
    assert len(dets) > 0

    _, second = backends.choose_backend(demo, "auto", OPTIONS, int8=REQUEST)
    assert second.cached and second.precision == "int8" and quantized == ["performance"]  # not quantized again
    fp32, plain = backends.choose_backend(demo, "auto", OPTIONS)
    assert plain.cached and plain.precision == "fp32" and fp32.precision == "fp32"  # the FP32 entry is untouched

    _started_as_a_user_starts_it(cache.parent)

    (binary,) = (cache / int8_key).glob("openvino/*/*.bin")
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    binary.write_bytes(bytes(data))  # same size, new bytes
    _, rebuilt = backends.choose_backend(demo, "auto", OPTIONS, int8=REQUEST)
    assert any("is not the one verified" in n and "rebuilding" in n for n in rebuilt.notes)
    assert rebuilt.precision == "int8" and not rebuilt.cached and len(quantized) == 2


PROBE = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["PROBE_OUT"], "w").write(json.dumps(sorted(sys.modules))))
from detect_cli.cli.app import run
run()
"""


def _started_as_a_user_starts_it(cache_dir: Path) -> None:
    """The CLI in a fresh process finds the INT8 entry these scenes made (the demo model's key is
    "scenes"), runs it, says so, and imports neither torch, Ultralytics nor NNCF."""
    env = {**os.environ, "ATTN_DETECT_CACHE_DIR": str(cache_dir), "PROBE_OUT": str(cache_dir / "modules.json")}
    env.pop("ATTN_DETECT_BACKEND")
    image = str(SAMPLES / "shapes" / "shape_00003.jpg")
    args = [image, "--model", "demo", "--precision", "int8", "--format", "json"]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    backend = json.loads(done.stdout)["model"]["backend"]
    assert backend["name"] == "openvino" and backend["precision"] == "int8"
    assert backend["reason"].startswith("int8: agreement F1 ")
    assert not {"torch", "ultralytics", "nncf"} & set(json.loads((cache_dir / "modules.json").read_text()))
    table = subprocess.run(
        [sys.executable, "-c", PROBE, image, "--model", "demo", "--precision", "int8", "--tables", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "OpenVINO INT8 (agreement F1" in " ".join(table.stdout.split())


class Shifted:
    """A broken INT8 runtime: every box moved by 30 pixels."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict(self, images, options):
        return [
            (Detections(d.xyxy + 30, d.confidence, d.class_id), timing)
            for d, timing in self.inner.predict(images, options)
        ]


@pytest.fixture
def broken_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every INT8 model opened is a broken one (its boxes shifted): the gate refuses it."""
    real = openvino_direct.open_openvino

    def opening(xml, origin, **kwargs):
        opened = real(xml, origin, **kwargs)
        return Shifted(opened) if "int8" in Path(xml).parent.name else opened

    monkeypatch.setattr(openvino_direct, "open_openvino", opening)


def test_a_broken_int8_model_is_refused_fp32_runs_and_the_refusal_is_cached(
    demo, cache: Path, quantized: list[str], broken_int8: None
) -> None:
    chosen, choice = backends.choose_backend(demo, "auto", OPTIONS, int8=REQUEST)
    assert (choice.backend, choice.precision, chosen.precision) == ("openvino", "fp32", "fp32")
    assert "int8 refused: agreement F1 0.0" in choice.reason and choice.int8 is not None
    assert choice.int8["int8"]["passed"] is False
    assert any(n.startswith("--precision int8 not used, running fp32: int8 refused") for n in choice.notes)
    assert quantized == ["performance", "mixed"]  # both presets tried before giving up
    ((dets, _),) = chosen.predict([SCENES.held_out[0]], OPTIONS)  # FP32 boxes: where the objects are
    ((reference, _),) = demo.predict([SCENES.held_out[0]], OPTIONS)
    assert np.allclose(np.sort(dets.xyxy, axis=0), np.sort(reference.xyxy, axis=0), atol=1.0)

    _, again = backends.choose_backend(demo, "auto", OPTIONS, int8=REQUEST)
    assert again.precision == "fp32" and "int8 refused" in again.reason and len(quantized) == 2  # not redone


def test_a_refusal_on_a_calibration_folder_is_decided_again_once_its_images_change(
    demo, cache: Path, quantized: list[str], broken_int8: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8_module, "PRESETS", ("performance",))
    holds = ["the folder as it was"]
    request = Int8Request(lambda: SCENES, "dir:/calibration", seen=lambda: holds[0])
    _, refused = backends.choose_backend(demo, "auto", OPTIONS, int8=request)
    assert "int8 refused" in refused.reason and quantized == ["performance"]
    _, again = backends.choose_backend(demo, "auto", OPTIONS, int8=request)
    assert again.precision == "fp32" and "int8 refused" in again.reason and quantized == ["performance"]  # cached
    holds[0] = "an image added"
    _, changed = backends.choose_backend(demo, "auto", OPTIONS, int8=request)
    assert "the calibration images changed since INT8 was refused here: deciding again" in changed.notes
    assert quantized == ["performance", "performance"] and "int8 refused" in changed.reason  # tried again


def test_what_int8_cannot_try_is_said_and_not_cached(demo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def too_few():
        raise TooFewImages("INT8 needs at least 40 images to calibrate on and check; the run's inputs gave 1")

    _, choice = backends.choose_backend(demo, "auto", OPTIONS, int8=Int8Request(too_few, "run"))
    assert choice.precision == "fp32" and "int8 not tried: INT8 needs at least 40 images" in choice.reason
    monkeypatch.setattr(int8_module, "nncf_problem", lambda: "NNCF is not installed (pip install ...)")
    _, choice = backends.choose_backend(demo, "auto", OPTIONS, int8=REQUEST)
    assert "int8 not tried: NNCF is not installed" in choice.reason
    assert len(_decisions(cache)) == 1  # only the FP32 entry: the next run may have the images, or NNCF


def test_int8_is_not_tried_where_pytorch_must_run(demo, empty_cache: Path) -> None:
    _, choice = backends.choose_backend(demo, "auto", replace(OPTIONS, nms=True), int8=REQUEST)
    assert choice.backend == "torch" and choice.precision == "fp32"
    assert any(n.startswith("--precision int8 not used: --nms") for n in choice.notes)
    assert not empty_cache.exists() or not _decisions(empty_cache)
