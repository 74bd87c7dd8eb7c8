"""Typer's coercion of a parameter's value, without Pydantic where it would return the value as given.

Typer (0.29) coerces each parameter's value through a Pydantic `TypeAdapter` that it builds on first
use: a bare `attn-detect IMG` builds 56 of them and imports Pydantic to do it, about a fifth of a
cached one-image run's CPU. The values of a usual run need none of it: an option not given (None),
a str for a str, strs for a list[str], an Enum's member or its exact value for its Enum, an int for
an int and a float for a float (within the option's min and max). `install` gives each parameter a
coercer that returns those as Typer's would (`tests/cli/test_plain_values.py` compares the two on
every parameter), and hands any other value to the coercer Typer builds, built then. A Typer
without these internals is left as it is.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, get_args, get_origin

_NOT_PLAIN = object()


def install(params: list[Any]) -> None:
    """Put a `PlainValues` coercer on each of a command's parameters that has none built yet."""
    for param in params:
        if getattr(param, "_runtime_param", 0) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = PlainValues(param)


class PlainValues:
    """A parameter's coercer: values that need none are returned as Typer's would return them."""

    def __init__(self, param: Any) -> None:
        descriptor = param.type_descriptor
        self._param = param
        annotation = descriptor.annotation
        simple = not (descriptor.is_path or descriptor.is_file)
        self._exact = annotation if simple and annotation in (str, int, float) else None
        info = descriptor.parameter_info
        self._low, self._high = (info.min, info.max) if descriptor.is_ranged else (None, None)
        self._enum = annotation if simple and isinstance(annotation, type) and issubclass(annotation, Enum) else None
        # a choice given by its exact value (`--format json`) is that member, whatever the case sensitivity
        self._by_value = {m.value: m for m in self._enum if isinstance(m.value, str)} if self._enum else {}
        self._strs = simple and get_origin(annotation) is list and get_args(annotation) == (str,)

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:  # as Typer's RuntimeParam.coerce
            return () if param.multiple or param.nargs == -1 else None
        plain = self._plain(value)
        if plain is not _NOT_PLAIN:
            return plain
        from typer._coercion import build_runtime_param

        param._runtime_param = build_runtime_param(param.type_descriptor)
        return param._runtime_param.coerce(value, param=param, ctx=ctx)

    def _plain(self, value: Any) -> Any:
        if self._exact is not None and type(value) is self._exact and self._in_range(value):
            return value
        if self._enum is not None and type(value) is self._enum:
            return value
        if type(value) is str and value in self._by_value:
            return self._by_value[value]
        if self._strs and isinstance(value, (tuple, list)) and all(type(v) is str for v in value):
            return list(value)
        return _NOT_PLAIN

    def _in_range(self, value: Any) -> bool:
        """Within an option's min and max, both included (Typer's bounds, clamped or refused outside)."""
        return (self._low is None or value >= self._low) and (self._high is None or value <= self._high)
