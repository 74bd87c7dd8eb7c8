"""Telling a bad input from a broken model (`failures.FailureWatch`), with no model at all."""

from __future__ import annotations

import pytest

from detect_cli.core.errors import ConfigError, InputError, ModelFailed
from detect_cli.pipeline.failures import REPEATS, FailureWatch, blank_image, describe


def passes() -> None:
    pass


def fails() -> None:
    raise RuntimeError("model is broken")


def test_a_failure_the_blank_image_does_not_share_is_the_inputs() -> None:
    watch = FailureWatch(passes)
    message = watch.failed(RuntimeError("odd shape (1, 3, 7)\nmore detail"), "a.jpg")
    assert message == "RuntimeError: odd shape (1, 3, 7)"


def test_a_failure_the_blank_image_shares_stops_the_run_with_its_cause() -> None:
    watch = FailureWatch(fails)
    with pytest.raises(ModelFailed, match=r"failed on a\.jpg and on a blank image too.*RuntimeError: kaput") as info:
        watch.failed(RuntimeError("kaput"), "a.jpg")
    assert isinstance(info.value.__cause__, RuntimeError) and "--verbose" in info.value.hint


def test_out_of_memory_says_what_to_lower() -> None:
    with pytest.raises(ModelFailed) as info:
        FailureWatch(fails).failed(MemoryError(), "big.jpg")
    assert "--batch" in info.value.hint and "MemoryError" in info.value.message


@pytest.mark.parametrize(
    ("errors", "stops_at"),
    [
        # the same error, numbers aside (sizes and addresses vary), REPEATS times in a row: not the inputs
        ([RuntimeError(f"CUDA out of memory. Tried to allocate {n}.00 MiB") for n in (20, 40, 80)], REPEATS),
        ([ValueError("bad box")] * 5, REPEATS),
        # different errors, or the same type saying different things: each input's own
        ([RuntimeError("a"), RuntimeError("b"), RuntimeError("a"), RuntimeError("b")], None),
        ([RuntimeError("a"), ValueError("a"), RuntimeError("a"), ValueError("a")], None),
    ],
)
def test_a_streak_of_the_same_error_stops_the_run(errors: list[Exception], stops_at: int | None) -> None:
    watch = FailureWatch(passes)
    for n, exc in enumerate(errors, 1):
        if n == stops_at:
            with pytest.raises(ModelFailed, match=f"{REPEATS} inputs in a row"):
                watch.failed(exc, f"{n}.jpg")
            return
        watch.failed(exc, f"{n}.jpg")
    assert stops_at is None


def test_an_input_that_goes_through_breaks_the_streak() -> None:
    """Does not raise: never REPEATS failures in a row."""
    watch = FailureWatch(passes)
    for _ in range(3):
        for _ in range(REPEATS - 1):
            watch.failed(RuntimeError("same"), "x.jpg")
        watch.ok()


def test_errors_that_say_what_they_are_are_not_judged() -> None:
    probed: list[int] = []
    watch = FailureWatch(lambda: probed.append(1))
    with pytest.raises(ConfigError, match="no attention block"):
        watch.failed(ConfigError("no attention block"), "a.jpg")
    assert watch.failed(InputError("a.jpg: not an image"), "a.jpg") == "a.jpg: not an image"
    assert probed == []


def test_the_probe_may_say_what_it_is_too() -> None:
    def refuses() -> None:
        raise ConfigError("attention maps need a PyTorch model")

    with pytest.raises(ConfigError):
        FailureWatch(refuses).failed(RuntimeError("x"), "a.jpg")


def test_describe_and_blank() -> None:
    assert describe(KeyError()) == "KeyError" and describe(OSError("a\nb")) == "OSError: a"
    image = blank_image(64)
    assert image.shape == (64, 64, 3) and image.dtype.name == "uint8" and (image == 114).all()
