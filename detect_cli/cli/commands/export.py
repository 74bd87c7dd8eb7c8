"""`attn-detect export` (coming: ONNX/OpenVINO/TorchScript, verified against PyTorch)."""

from __future__ import annotations

import typer

from detect_cli.cli.output import error
from detect_cli.errors import ExitCode

app = typer.Typer()


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def export() -> None:
    """(coming) Export a model to ONNX/OpenVINO/TorchScript and verify it against PyTorch."""
    error("export is not available yet", "Ultralytics' `yolo export` works in the meantime")
    raise typer.Exit(int(ExitCode.USAGE))
