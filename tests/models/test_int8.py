"""NNCF quantization of the demo model's OpenVINO export: a real INT8 network, its head kept in float,
nothing on stdout."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import pytest
import yaml

from detect_cli.models import int8
from detect_cli.models.calibration import demo_scenes
from detect_cli.models.detector import load_detector
from detect_cli.models.int8 import head_scope, nncf_problem, quantize
from detect_cli.models.lookup import resolve_model
from detect_cli.models.openvino_direct import open_openvino

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="NNCF is the [int8] extra"),
]


@pytest.fixture(scope="module")
def fp32(demo_export_cache: Path) -> tuple[object, Path]:
    """The demo model and its verified OpenVINO export, the one --precision int8 quantizes (the
    session's, conftest: read here, never changed)."""
    demo = load_detector(resolve_model("demo"), device="cpu")
    (xml,) = demo_export_cache.glob("backends/*/openvino/*/*.xml")
    return demo, xml


def _ops(xml: Path) -> collections.Counter:
    import openvino as ov

    return collections.Counter(op.get_type_name() for op in ov.Core().read_model(str(xml)).get_ordered_ops())


def test_quantize_makes_an_int8_network_that_runs(fp32, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    demo, xml = fp32
    scenes = demo_scenes(16, 4)
    out = quantize(xml, tmp_path / "int8", scenes.images, family="yolo", preset="performance")
    assert capfd.readouterr().out == ""  # NNCF's log and progress bars stay off stdout
    assert out.name == xml.name and out.with_suffix(".bin").stat().st_size < xml.with_suffix(".bin").stat().st_size
    assert (out.parent / "metadata.yaml").exists()  # so Ultralytics' wrapper can open the folder too
    metadata = yaml.safe_load((out.parent / "metadata.yaml").read_text())
    assert metadata["args"]["quantize"] == 8 and metadata["end2end"] is True  # says what it is, as Ultralytics'
    assert _ops(out)["FakeQuantize"] > 50 and _ops(xml)["FakeQuantize"] == 0
    runner = open_openvino(out, demo)
    ((dets, _),) = runner.predict([scenes.held_out[0]], demo_options())
    assert len(dets) > 0 and set(dets.class_id.tolist()) <= set(demo.names)


def test_the_heads_decoding_is_left_in_floating_point(fp32, tmp_path: Path) -> None:
    import openvino as ov

    _, xml = fp32
    kept = head_scope(ov.Core().read_model(str(xml)))
    assert kept and all("Sigmoid" in name or "model.23" in name for name in kept)  # YOLO26's head is model.23
    out = quantize(xml, tmp_path / "int8", demo_scenes(16, 0).images, family="yolo")
    model = ov.Core().read_model(str(out))
    quantized_inputs = {
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())
    }
    assert not quantized_inputs & {n for n in kept if "Sigmoid" in n}


def test_nncf_missing_is_said_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    assert nncf_problem() == 'NNCF is not installed (pip install "attn-detect[int8]")'


def demo_options():
    from detect_cli.models.detector import PredictOptions

    return PredictOptions(imgsz=320)


def test_a_full_disk_is_said_as_one(tmp_path: Path) -> None:
    """OpenVINO says `basic_ios::clear: iostream error` when the disk fills up under save_model."""
    import errno

    target = tmp_path / "int8" / "demo.xml"
    with pytest.raises(OSError, match="No space left on device") as said:
        with int8._disk_full_said(target):
            raise RuntimeError("Exception from src/core/src/pass/serialize.cpp:1234:\nbasic_ios::clear: iostream error")
    assert said.value.errno == errno.ENOSPC and said.value.filename == str(target)
    with pytest.raises(RuntimeError, match="something else"), int8._disk_full_said(target):
        raise RuntimeError("something else")  # other failures are left as they are


def test_torchs_cuda_line_is_not_printed_while_quantizing() -> None:
    """On a machine with a CUDA folder and no GPU, torch's cpp_extension (which NNCF imports) logs
    "No CUDA runtime is found" at import: not a word for a CPU quantization, unless --verbose."""
    import subprocess
    import sys

    probe = "import torch.utils.cpp_extension"
    quiet = f"from detect_cli.models.int8 import _quiet_nncf\nwith _quiet_nncf():\n    {probe}"
    plain = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    if "No CUDA runtime" not in plain.stderr:
        pytest.skip("torch says nothing here (no CUDA folder, or a GPU)")
    done = subprocess.run([sys.executable, "-c", quiet], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "No CUDA runtime" not in done.stderr, done.stderr
