"""ONNX Runtime: Ultralytics' ONNX export, run by Ultralytics' wrapper (the `[onnx]` extra)."""

from __future__ import annotations

from detect_cli.models.runtimes.base import Runtime

ONNX_RUNTIME = Runtime("onnx", "ONNX Runtime", "onnxruntime", "onnx")
