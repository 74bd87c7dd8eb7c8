"""A faster way to the same OpenVINO model: through ONNX (the `onnx` package, a dependency).

Ultralytics' OpenVINO export traces the network with TorchScript and hands the trace to OpenVINO's
PyTorch frontend (`ov.convert_model`), the largest part of a first run's extra cost. Exporting the same
prepared network to ONNX with torch's TorchScript-based exporter and converting that with
`ov.convert_model` is faster (Ultralytics' whole export of the demo weights with dynamic shapes on a
2-core AMD EPYC: 2.3 s against 3.0 s at load 1-2, 12.1 s against 35.6 s under load; benchmarks/
bench_custom_first.py --parts route), and the two IRs gave equal outputs on random inputs. `convert_model`, not
`read_model`, because it also applies OpenVINO's graph passes (MOC), as the PyTorch frontend's
conversion does: SiLU's Sigmoid and Multiply become one Swish again, the shape arithmetic folds, and
an INT8 model quantized from the IR runs as fast as one from the stock route. Everything else is still
Ultralytics' exporter (the model's preparation, the metadata, the runtime info in the IR), and the
result is checked against PyTorch as any export is (`runtime_trial`): a conversion that differed
would fail the check, not the run.

Used for FP32 and FP16 exports, static and with dynamic shapes (the first run's: batch, height and
width dynamic, as the stock route makes them). attn-detect's INT8 (`int8.py`) quantizes the FP32 IR
this gives; its choice of what to keep in floating point reads the ONNX frontend's operation names
(`/model.23/...`). Ultralytics' own INT8 goes through its own conversion, as does any export when
`onnx` is missing or the ONNX route raises.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any


def onnx_route_available() -> bool:
    """torch's ONNX exporter needs the `onnx` package (a dependency; an install without it converts as
    Ultralytics does)."""
    return importlib.util.find_spec("onnx") is not None


def via_onnx(fallback: Callable[..., Any]) -> Callable[..., Any]:
    """A drop-in for Ultralytics' `torch2openvino(model, im, ...)` that converts through ONNX and
    calls `fallback` (Ultralytics' own) for what it does not handle or when it fails."""

    def convert(model: Any, im: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("quantize") == 8 or kwargs.get("output_dir") is not None:
            return fallback(model, im, *args, **kwargs)
        try:
            return _onnx_to_openvino(model, im, dynamic=bool(kwargs.get("dynamic")))
        except Exception:  # any trouble here: the stock conversion, as if we had not tried
            return fallback(model, im, *args, **kwargs)

    return convert


def _onnx_to_openvino(model: Any, im: Any, *, dynamic: bool = False) -> Any:
    import openvino as ov
    import torch

    handle, path = tempfile.mkstemp(suffix=".onnx", prefix="attn-detect-")
    os.close(handle)
    axes = {"images": {0: "batch", 2: "height", 3: "width"}} if dynamic else None  # the stock route's [?,3,?,?]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(
                model, im, path, dynamo=False, do_constant_folding=True, input_names=["images"], dynamic_axes=axes
            )
        # with OpenVINO's passes (demo: 87 of 88 Sigmoids fused into Swish, 2,049 operations to 813; the
        # stock route gives 802): INT8 from the IR read without them ran 1.55-1.72x FP32, not 2.1x
        converted = ov.convert_model(path)
        if not dynamic and converted.input(0).get_partial_shape().is_dynamic:  # static, as the stock route gives it
            converted.reshape(list(im.shape))
        return converted
    finally:
        os.unlink(path)


@contextlib.contextmanager
def faster_openvino_conversion() -> Iterator[bool]:
    """While it is open, Ultralytics' OpenVINO exporter converts through ONNX (yields True), when it can."""
    if not onnx_route_available():
        yield False
        return
    try:
        from ultralytics.utils.export import openvino as stock
    except ImportError:  # another Ultralytics layout: its own conversion
        yield False
        return
    original = getattr(stock, "torch2openvino", None)
    if original is None:
        yield False
        return
    stock.torch2openvino = via_onnx(original)
    try:
        yield True
    finally:
        stock.torch2openvino = original
