"""PyTorch: the checkpoint itself, through Ultralytics. Every other runtime is checked against it."""

from __future__ import annotations

from detect_cli.models.runtimes.base import Runtime

PYTORCH = Runtime("torch", "PyTorch", "torch", None, runners=())
