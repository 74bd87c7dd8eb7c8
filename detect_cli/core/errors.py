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


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (whitespace collapsed, at most 300 characters), for a record."""
    return " ".join(str(exc).split())[:300]


def amount(value: float) -> str:
    """Whole numbers from 10 up, two significant digits below (so small limits don't print as 0)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
