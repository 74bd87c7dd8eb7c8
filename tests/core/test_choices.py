"""core/choices.py: each choice list exists once, and the settings and the CLI take exactly it."""

from __future__ import annotations

import pytest

from detect_cli.cli import options
from detect_cli.core import choices
from detect_cli.core.errors import ConfigError
from detect_cli.core.settings import load_settings


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (options.BackendName, choices.BACKENDS),
        (options.SliceMergeName, choices.SLICE_MERGES),
        (options.SliceMatchName, choices.SLICE_MATCHES),
        (options.TrackerName, choices.TRACKERS),
        (options.Engine, choices.ENGINES),
        (options.OutputFormat, choices.OUTPUT_FORMATS),
    ],
)
def test_the_cli_offers_exactly_the_choices(enum, values) -> None:
    assert tuple(e.value for e in enum) == values


@pytest.mark.parametrize(
    ("key", "values"),
    [("backend", choices.BACKENDS), ("slice_merge", choices.SLICE_MERGES), ("slice_match", choices.SLICE_MATCHES)],
)
def test_the_settings_take_exactly_the_choices(key: str, values: tuple[str, ...]) -> None:
    for value in values:
        assert getattr(load_settings(None, {key: value}), key) == value
    with pytest.raises(ConfigError, match=key.replace("_", "-")):
        load_settings(None, {key: "none-of-them"})


def test_the_registered_formats_are_the_choices() -> None:
    from detect_cli.outputs.formats import SINKS

    assert set(SINKS) | {"mot"} == set(choices.RESULT_FORMATS + choices.TRACK_FORMATS)
