"""Telling a bad input from a broken model.

A failure of the model on one input is taken as that input's fault at first: the input gets an
error record and the run goes on. Two tests say otherwise, and then the run stops with
`ModelFailed` (exit 1, the cause in one line; the records finished so far are kept):

- the probe: the same model fails on a blank image too (the letterbox grey, at the run's size).
  Nothing about a blank image is odd, so the fault is the model's or its runtime's: out of memory
  for a single image, a broken install, a bug;
- the streak: `REPEATS` inputs in a row fail with the same error (numbers aside, since sizes and
  addresses in messages vary). This catches faults that a blank image never reaches, such as code
  that only runs when there are boxes.

Errors that already say what they are (`ConfigError`, `ModelFailed`, any `AttnDetectError`) pass
through untouched, and an `InputError` stays the input's. The engine retries a failed batch one
image at a time before asking (a batch can run out of memory where its images alone do not), so
only failures of single inputs are judged here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from detect_cli.core.errors import AttnDetectError, InputError, ModelFailed, one_line

REPEATS = 3
LETTERBOX_GREY = 114  # Ultralytics pads with this: a blank image is what the model sees around every input
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


def blank_image(size: int) -> np.ndarray:
    return np.full((size, size, 3), LETTERBOX_GREY, np.uint8)


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, for one-line records and errors."""
    return one_line(exc, typed=True, first=True)


class FailureWatch:
    """Judges each failure of the model on one input (see the module docstring). `probe()` runs the
    model on a blank image; call `ok()` after every input that went through, `failed()` after each
    one that did not."""

    def __init__(self, probe: Callable[[], object], repeats: int = REPEATS) -> None:
        self._probe = probe
        self._repeats = repeats
        self._last: tuple[type, str] | None = None
        self._streak = 0

    def ok(self) -> None:
        self._last, self._streak = None, 0

    def failed(self, exc: Exception, source: str) -> str:
        """The error record's message for a failure on `source`, or `ModelFailed` raised when the
        failure is not the input's."""
        if isinstance(exc, InputError):
            return str(exc)
        if isinstance(exc, AttnDetectError):
            raise exc
        cause = describe(exc)
        key = (type(exc), _NUMBERS.sub("#", cause))
        self._streak = self._streak + 1 if key == self._last else 1
        self._last = key
        if self._streak >= self._repeats:
            raise ModelFailed(
                f"the model failed on {self._streak} inputs in a row with the same error, so the fault "
                f"is not theirs (the last: {source}): {cause}",
                _hint(exc),
            ) from exc
        try:
            self._probe()
        except AttnDetectError:
            raise
        except Exception:
            raise ModelFailed(
                f"the model failed on {source} and on a blank image too, so the fault is not the input's: {cause}",
                _hint(exc),
            ) from exc
        return cause


def _hint(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "lower --batch or --imgsz, or free memory on the device"
    return "run again with --verbose for the traceback"
