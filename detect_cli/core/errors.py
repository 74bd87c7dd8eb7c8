"""Exceptions and exit codes. Library code raises these; only the CLI maps them to output."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INPUTS_FAILED = 3
    MODEL = 4
    INTERRUPTED = 130


class AttnDetectError(Exception):
    """An error the user can act on: a one-line message and, where useful, what to do about it."""

    exit_code = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AttnDetectError):
    """A bad option, config key or value."""

    exit_code = ExitCode.USAGE


class ModelLoadError(AttnDetectError):
    """The model could not be found or loaded."""

    exit_code = ExitCode.MODEL


class InputError(AttnDetectError):
    """One input could not be read. It becomes an error record; the run goes on."""

    exit_code = ExitCode.INPUTS_FAILED


class ModelFailed(AttnDetectError):
    """The model or its runtime failed in a way that is not about one input (out of memory, a broken
    runtime, a bug): the run stops with the cause, keeping the records already finished.
    `failures.FailureWatch` tells this apart from a failure on one input."""

    exit_code = ExitCode.UNEXPECTED


ULTRALYTICS_MARK = "ERROR ❌️ "  # how Ultralytics starts its own error messages


def one_line(exc: BaseException, *, typed: bool = False, first: bool = False) -> str:
    """The one way an exception becomes a line of a record or an error message: an OS error as its
    reason and file; else its text, whitespace collapsed, at most 300 characters (`first`: the first
    line only, for messages that go on with a traceback or advice); else its type's name. `typed`
    puts the type first (`RuntimeError: ...`), where the type says as much as the text."""
    if isinstance(exc, OSError) and exc.strerror and not typed:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    text = str(exc).strip().replace(ULTRALYTICS_MARK, "")
    if first and text:
        text = text.splitlines()[0]
    text = " ".join(text.split())[:300]
    if typed:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


def amount(value: float) -> str:
    """Whole numbers from 10 up, two significant digits below (so small limits don't print as 0)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
