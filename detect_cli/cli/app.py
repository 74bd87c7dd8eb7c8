"""The `attn-detect` Typer app. Bare `attn-detect IMAGE...` means `attn-detect detect IMAGE...`.

Imports nothing heavy: torch and Ultralytics load inside the commands, so --help and shell
completion (Typer's, for bash, zsh and fish: `attn-detect --install-completion`) are fast.
Help is Click's plain layout: it wraps at the terminal's width where Rich's panels cut words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperGroup

from detect_cli import __version__
from detect_cli.cli import plain_values
from detect_cli.cli.commands import attention, compare, detect, evaluate, export
from detect_cli.cli.console import EXIT_CODES_HELP

if TYPE_CHECKING:  # Typer's own copy of Click
    from typer._click.formatting import HelpFormatter
    from typer._click.shell_completion import CompletionItem

DEFAULT_COMMAND = "detect"
GROUP_FLAGS = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


class DefaultCommandGroup(TyperGroup):
    """Routes arguments that don't start with a command name to `detect` (completion included)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in GROUP_FLAGS:
            args = [DEFAULT_COMMAND, *args]
        plain_values.install(self.get_params(ctx))  # --help included
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)  # keep registration order: detect first

    def format_commands(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
        """Each command's first sentence in full, wrapped (Click cuts it at the line's end)."""
        rows = [(name, cmd.get_short_help_str(limit=1000)) for name, cmd in self.commands.items() if not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def shell_complete(self, ctx: typer.Context, incomplete: str) -> list[CompletionItem]:
        """`attn-detect --mo<Tab>`: the bare form is `detect`'s, so its options are offered too."""
        items = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            offered = {item.value for item in items}
            detect_options = self.commands[DEFAULT_COMMAND].shell_complete(ctx, incomplete)
            items += [item for item in detect_options if item.value not in offered]
        return items


app = typer.Typer(
    cls=DefaultCommandGroup,
    name="attn-detect",
    help="Object detection with YOLO26 and RT-DETR. `attn-detect IMAGE...` is short for `attn-detect detect IMAGE...`.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
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
