"""stdout is the API, stderr is for humans. This module owns both streams and the exit codes.

Results (tables or JSON) go to stdout; notes, warnings, progress and errors go to stderr.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from detect_cli.errors import AttnDetectError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])


class State:
    quiet = False
    verbose = False


def out() -> Console:
    """The results console (stdout). Made per call: test runners swap sys.stdout."""
    return Console(file=sys.stdout, soft_wrap=False)


def err() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)  # messages stay one line, whatever the width


def note(message: str) -> None:
    if not State.quiet:
        err().print(Text(message, style="dim"))


def warn(message: str) -> None:
    err().print(Text.assemble(("warning: ", "bold yellow"), message))


def error(message: str, hint: str | None = None) -> None:
    err().print(Text.assemble(("error: ", "bold red"), message, (f" ({hint})" if hint else "", "")))


def handle_errors(func: F) -> F:
    """Map library exceptions to one line on stderr and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AttnDetectError as exc:
            if State.verbose:
                traceback.print_exc(file=sys.stderr)
            error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:
            if State.verbose:
                traceback.print_exc(file=sys.stderr)
                hint = None
            else:
                hint = "run again with --verbose for the traceback"
            error(f"unexpected error: {type(exc).__name__}: {exc}".splitlines()[0], hint)
            raise typer.Exit(int(ExitCode.UNEXPECTED)) from None

    return wrapper  # type: ignore[return-value]


EXIT_CODES_HELP = (
    "Exit codes: 0 all good; 1 unexpected error; 2 usage or config error; "
    "3 finished but some inputs failed; 4 model could not be loaded; 130 interrupted (Ctrl-C)."
)
