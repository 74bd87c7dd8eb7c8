"""A faster way to the same OpenVINO model: through ONNX, when the `onnx` package is installed.

Ultralytics' OpenVINO export traces the network with TorchScript and hands the trace to OpenVINO's
PyTorch frontend (`ov.convert_model`): 2.4-3.6 s of a 2.7-4.0 s export of the demo model on a shared
2-core Xeon, the largest part of a first run's extra cost. Exporting the same prepared network to ONNX
with torch's TorchScript-based exporter and reading that with OpenVINO's ONNX frontend took 1.3-1.6 s
(whole export 1.7-2.0 s, in alternation), and the two IRs gave outputs equal to the bit on random
inputs. Everything else is still Ultralytics' exporter (the model's preparation, the metadata, the
runtime info in the IR), and the result is checked against PyTorch as any export is
(`runtime_trial`): a conversion that differed would fail the check, not the run.

Used for FP32 and FP16 static exports only (attn-detect's INT8, `int8.py`, quantizes the FP32 IR this
gives); dynamic shapes and Ultralytics' own INT8 go through its own
conversion, as does any export when `onnx` is missing or the ONNX route raises.
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
    """torch's ONNX exporter needs the `onnx` package (in the `[onnx]` extra, not the default install)."""
    return importlib.util.find_spec("onnx") is not None


def via_onnx(fallback: Callable[..., Any]) -> Callable[..., Any]:
    """A drop-in for Ultralytics' `torch2openvino(model, im, ...)` that converts through ONNX and
    calls `fallback` (Ultralytics' own) for what it does not handle or when it fails."""

    def convert(model: Any, im: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("dynamic") or kwargs.get("quantize") == 8 or kwargs.get("output_dir") is not None:
            return fallback(model, im, *args, **kwargs)
        try:
            return _onnx_to_openvino(model, im)
        except Exception:  # any trouble here: the stock conversion, as if we had not tried
            return fallback(model, im, *args, **kwargs)

    return convert


def _onnx_to_openvino(model: Any, im: Any) -> Any:
    import openvino as ov
    import torch

    handle, path = tempfile.mkstemp(suffix=".onnx", prefix="attn-detect-")
    os.close(handle)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(model, im, path, dynamo=False, do_constant_folding=True)
        converted = ov.Core().read_model(path)
        if converted.input(0).get_partial_shape().is_dynamic:  # static, as the stock route gives it
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
