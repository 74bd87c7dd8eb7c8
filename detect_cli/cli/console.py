"""stdout is the API, stderr is for humans. This module owns both streams and the exit codes.

Results (tables or JSON) go to stdout; notes, warnings, progress and errors go to stderr.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from detect_cli.core.errors import AttnDetectError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
STDOUT_CLOSED = 141  # what a shell reports for a program ended by SIGPIPE (128 + 13)


class State:
    quiet = False
    verbose = False
    # While a progress display runs (cli/progress.py): its console, which prints above the bar
    # (a Console on sys.stderr would write past it), and whether stdout is that terminal too.
    live: Console | None = None
    live_stdout = False


def set_output(*, quiet: bool, verbose: bool) -> None:
    """How much goes to stderr for this run. Without --verbose, FFmpeg and OpenCV (which write to
    stderr themselves, bypassing Python) keep quiet: what they would say about a broken video or
    URL is in that input's error record. Set before cv2 is imported; a user's own setting wins."""
    State.quiet, State.verbose = quiet, verbose
    if not verbose:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


class _StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "stdout was closed")  # ends the run as data on stdout does (141)


def out() -> Console:
    """The results console (stdout). Made per call: test runners swap sys.stdout."""
    if State.live is not None and State.live_stdout:
        return State.live
    return _StdoutConsole(file=sys.stdout, soft_wrap=False)


def err() -> Console:
    return State.live or Console(file=sys.stderr, soft_wrap=True)  # messages stay one line, whatever the width


def note(message: str) -> None:
    if not State.quiet:
        err().print(Text(message, style="dim"))


def warn(message: str) -> None:
    err().print(Text.assemble(("warning: ", "bold yellow"), message))


def error(message: str, hint: str | None = None) -> None:
    err().print(Text.assemble(("error: ", "bold red"), message, (f" ({hint})" if hint else "", "")))


_held: list[contextlib.ExitStack] = []


def hold(resource: AbstractContextManager[T]) -> T:
    """Keep `resource` entered until the running command (wrapped in `handle_errors`) ends, however
    it ends: a lock on the results file, say."""
    return _held[-1].enter_context(resource)


def handle_errors(func: F) -> F:
    """Map library exceptions to one line on stderr and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                with contextlib.ExitStack() as held:
                    _held.append(held)
                    return func(*args, **kwargs)
            finally:
                _held.pop()
                sys.stdout.flush()  # a closed pipe shows here, not as a message at interpreter exit
        except BrokenPipeError:
            _stdout_closed()
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


def exit_with(outcome: Any) -> None:
    """End a command by how its task ended (a `tasks.driver.Outcome`): 130 after Ctrl-C (said on
    stderr, the finished records kept), 3 when some inputs failed or their files were not written."""
    code = int(outcome.exit_code)
    if code == ExitCode.INTERRUPTED:
        error("interrupted")
    if code:
        raise typer.Exit(code)


def _stdout_closed() -> None:
    """The reader of stdout went away (`| head -1`): stop quietly, as Unix tools do when SIGPIPE
    ends them, with the code a shell reports for that (128 + SIGPIPE). Output still buffered goes
    to /dev/null, so Python's own flush at exit does not complain either."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(STDOUT_CLOSED)


EXIT_CODES_HELP = (
    "Exit codes: 0 all good; 1 unexpected error, or the model failed on the run as a whole (out of memory, a "
    "broken runtime), not on one input; 2 usage or config error, or an output that cannot be written; 3 finished "
    "but some inputs failed (or their annotated images could not be saved); 4 model could not be loaded; 130 "
    "interrupted (Ctrl-C); 141 stdout was closed early (e.g. piped into head), as for other Unix tools."
)
