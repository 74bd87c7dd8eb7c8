"""The `attn-detect` Typer app. Bare `attn-detect IMAGE...` means `attn-detect detect IMAGE...`.

Imports nothing heavy: torch and Ultralytics load inside the commands, so --help is fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from detect_cli import __version__
from detect_cli.cli.commands import attention, compare, detect, evaluate, export
from detect_cli.cli.output import EXIT_CODES_HELP

DEFAULT_COMMAND = "detect"
GROUP_FLAGS = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


class DefaultCommandGroup(TyperGroup):
    """Routes arguments that don't start with a command name to `detect`."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in GROUP_FLAGS:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)  # keep registration order: detect first


app = typer.Typer(
    cls=DefaultCommandGroup,
    name="attn-detect",
    help="Object detection with YOLO26 and RT-DETR. `attn-detect IMAGE...` is short for `attn-detect detect IMAGE...`.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.add_typer(detect.app)
app.add_typer(evaluate.app)
app.add_typer(compare.app)
app.add_typer(export.app)
app.add_typer(attention.app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attn-detect {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    pass


def run() -> None:
    app()
