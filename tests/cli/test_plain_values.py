"""`cli/plain_values.py`: every parameter of every command coerces a value without Pydantic only where
Typer's own coercer gives the very same result, and hands every other value to Typer's."""

from __future__ import annotations

from enum import Enum

import pytest
import typer.main
from typer._coercion import build_runtime_param

from detect_cli.cli import plain_values
from detect_cli.cli.app import app

GROUP = typer.main.get_command(app)
PARAMS = [
    (name, param)
    for name, command in [("", GROUP), *GROUP.commands.items()]
    for param in command.get_params(command.context_class(command))
]


def samples(param) -> list[object]:  # type: ignore[no-untyped-def]
    """Values as Click hands them over: given on the command line (str, tuples of str) or defaults."""
    annotation = param.type_descriptor.annotation
    values: list[object] = [None, "1", "x", (), ("a", "b"), ["a"], 0, 1, -1, 10**6, 0.0, 0.5, -0.5, 1e9, True]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values += [*annotation, *(m.value for m in annotation)]
    return values


@pytest.mark.parametrize(("command", "param"), PARAMS, ids=[f"{c or 'group'}-{p.name}" for c, p in PARAMS])
def test_a_value_coerced_without_pydantic_is_what_typer_gives(command: str, param) -> None:  # type: ignore[no-untyped-def]
    plain = plain_values.PlainValues(param)
    typers = build_runtime_param(param.type_descriptor)
    ctx = GROUP.context_class(GROUP)
    for value in samples(param):
        if value is not None and plain._plain(value) is plain_values._NOT_PLAIN:
            continue  # handed to Typer's own coercer
        expected = typers.coerce(value, param=param, ctx=ctx)
        got = plain.coerce(value, param=param, ctx=ctx)
        assert got == expected and type(got) is type(expected), (value, got, expected)


def test_a_usual_run_builds_no_coercer_and_other_values_get_typers() -> None:
    command = GROUP.commands["detect"]
    ctx = command.make_context("detect", ["a.jpg", "b.jpg", "--model", "demo", "--quiet", "--iou", "0.3"])
    assert ctx.params["sources"] == ["a.jpg", "b.jpg"] and ctx.params["model"] == "demo"
    built = {p.name for p in command.params if not isinstance(p._runtime_param, plain_values.PlainValues)}
    assert built == {"iou"}  # the one value given as text for a number
    assert ctx.params["iou"] == 0.3
    with pytest.raises(typer.BadParameter):
        command.make_context("detect", ["a.jpg", "--imgsz", "big"])
