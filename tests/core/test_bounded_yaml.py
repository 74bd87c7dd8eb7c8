"""YAML with bounds: aliases that expand past a size, nesting past a depth, a value inside itself."""

from __future__ import annotations

import time

import pytest
import yaml

from detect_cli.core.bounded_yaml import MAX_DEPTH, MAX_VALUES, load_bounded


def _laughs(levels: int) -> str:
    text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for n in range(1, levels):
        text += f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]\n"
    return text + f"classes: *a{levels - 1}\n"


REFUSED = {
    "billion laughs (9 levels)": (_laughs(9), "expand to more than"),
    "billion laughs (10 levels)": (_laughs(10), "expand to more than"),
    "nested 5000 deep": ("x: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    "nested maps 100 deep": ("".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v", "nested too"),
    "a list inside itself": ("x: &a [1, *a]", "contains it"),
    "a map inside itself": ("x: &a {y: *a}", "contains it"),
}


@pytest.mark.parametrize("name", list(REFUSED), ids=list(REFUSED))
def test_bombs_are_refused_fast(name: str) -> None:
    text, message = REFUSED[name]
    start = time.process_time()  # this process's CPU: refused before the work, whatever else the machine runs
    with pytest.raises(yaml.YAMLError, match=message):
        load_bounded(text)
    assert time.process_time() - start < 2.0


def test_ordinary_aliases_and_depth_still_load() -> None:
    assert load_bounded("a: &x [1, 2]\nb: *x\nc: *x\n") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    deep = "x: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)
    assert load_bounded(deep)["x"] is not None
    assert len(load_bounded("x: [" + ",".join(["1"] * (MAX_VALUES // 10)) + "]")["x"]) == MAX_VALUES // 10
    assert load_bounded("") is None


def test_invalid_yaml_is_a_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError):
        load_bounded("a: [1\n")
    with pytest.raises(yaml.YAMLError):
        load_bounded("a: 1\n---\nb: 2\n")  # one document only
