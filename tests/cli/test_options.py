"""--help in groups: every option of every command under a named panel, in one order."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.cli.options import PANELS

SECTION = re.compile(r"^([A-Z][A-Za-z ]+):$", re.M)


def _help(*command: str) -> str:
    done = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert done.exit_code == 0, done.output
    return done.output


def test_detect_help_is_in_the_groups_a_user_scans() -> None:
    sections = SECTION.findall(_help("detect"))
    assert sections == ["Arguments", *PANELS, "Options"]


def test_every_detect_option_has_a_group_but_help() -> None:
    text = _help("detect")
    general = text[text.index("\nOptions:\n") :].split("\n\n")[0]
    assert re.findall(r"^\s+(-\S+)", general, re.M) == ["-h,"]  # only --help is left ungrouped


@pytest.mark.parametrize("command", ["evaluate", "compare", "attention", "export"])
def test_other_commands_use_the_same_groups_in_the_same_order(command: str) -> None:
    sections = [s for s in SECTION.findall(_help(command)) if s not in {"Arguments", "Options"}]
    assert sections and sections == [p for p in PANELS if p in sections]


def test_help_loads_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from detect_cli.cli.app import app; "
        "CliRunner().invoke(app, ['detect', '--help']); "
        "print(sorted(m for m in ('numpy', 'torch', 'ultralytics', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
