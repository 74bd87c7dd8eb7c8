"""`attn-detect compare` (coming: several models on the same images, one table)."""

from __future__ import annotations

import typer

from detect_cli.cli.output import error
from detect_cli.errors import ExitCode

app = typer.Typer()


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def compare() -> None:
    """(coming) Run several models on the same images: speed, counts, agreement, mAP."""
    error("compare is not available yet", "use `attn-detect detect --model NAME` once per model for now")
    raise typer.Exit(int(ExitCode.USAGE))
