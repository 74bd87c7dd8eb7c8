"""The ONNX route to an OpenVINO model gives the stock conversion's network, and steps aside for what it
does not handle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from detect_cli.models import openvino_convert
from detect_cli.models.openvino_convert import faster_openvino_conversion, via_onnx


def _stock(model, im, **kwargs):
    return ("stock", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"quantize": 8, "calibration_dataset": object()}, {"output_dir": "somewhere"}],
    ids=["int8", "output_dir"],
)
def test_what_it_does_not_handle_goes_to_the_stock_conversion(kwargs: dict) -> None:
    assert via_onnx(_stock)(model=object(), im=object(), **kwargs) == ("stock", kwargs)


def test_a_failing_onnx_route_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model, im):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(openvino_convert, "_onnx_to_openvino", broken)
    assert via_onnx(_stock)(model=object(), im=object(), dynamic=False, quantize=None) == (
        "stock",
        {"dynamic": False, "quantize": None},
    )


def test_without_onnx_nothing_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with faster_openvino_conversion() as used:
        assert not used


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="the [onnx] extra is not installed")
def test_the_onnx_route_gives_the_stock_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With dynamic shapes, as the first run exports, run at a 2:1 shape. (Both families' exports by this
    route are checked against PyTorch at their own shapes in test_openvino_direct.py.)"""
    spec = "demo"
    import openvino as ov
    from ultralytics.utils.export import openvino as stock

    from detect_cli.models.detector import load_detector
    from detect_cli.models.export import FORMATS, _run_export
    from detect_cli.models.lookup import resolve_model

    detector = load_detector(resolve_model(spec), device="cpu")
    original, real_find = stock.torch2openvino, importlib.util.find_spec
    calls: list[str] = []

    def counted(*args, **kwargs):
        calls.append("stock")
        return original(*args, **kwargs)

    outputs, sigmoids = [], []
    for route in ("stock", "onnx"):
        staged = tmp_path / route / f"{spec}.pt"
        staged.parent.mkdir()
        staged.write_bytes(Path(detector.ref.path).read_bytes())
        with monkeypatch.context() as patch:
            patch.setattr(stock, "torch2openvino", counted)
            if route == "stock":  # as without the [onnx] extra
                patch.setattr(
                    importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real_find(name, *a)
                )
            folder = Path(
                _run_export(
                    detector,
                    FORMATS["openvino"],
                    staged,
                    imgsz=320,
                    half=False,
                    dynamic=True,
                    device="cpu",
                )
            )
            assert stock.torch2openvino is counted  # put back once the export is done
        (xml,) = folder.glob("*.xml")
        assert (folder / "metadata.yaml").exists()
        core = ov.Core()
        model = core.read_model(xml)
        sigmoids.append(sum(op.get_type_name() == "Sigmoid" for op in model.get_ordered_ops()))
        assert model.input(0).get_partial_shape().is_dynamic
        model.reshape([1, 3, 320, 640])
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": ov.Type.f32})
        outputs.append(compiled(np.random.default_rng(5).random((1, 3, 320, 640), dtype=np.float32))[0])
    assert calls == ["stock"]  # the second export did not use the stock conversion
    assert sigmoids[0] == sigmoids[1] == 1  # SiLU is one Swish in both (its INT8 runs as fast): the head's only
    assert outputs[0].shape == outputs[1].shape
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-4)
