"""The README's accuracy figures are what `attn-detect evaluate` prints for the command shown next to them."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import REPO

BLOCK = re.compile(r"<!-- evaluate: (?P<model>\S+) -->\n```bash\n(?P<command>.+?)\n```\n```text\n(?P<row>.+?)\n```")
EXAMPLES = BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))


def numbers(row: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", row)


def test_the_readme_shows_both_demo_models() -> None:
    assert [model for model, _, _ in EXAMPLES] == ["demo", "demo-rtdetr"]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "command", "row"), EXAMPLES, ids=[m for m, _, _ in EXAMPLES])
def test_evaluate_prints_the_readme_figures(model: str, command: str, row: str, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # the command's paths are relative to the repository, as in the README
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)  # the defaults a user gets
    monkeypatch.setenv("COLUMNS", "200")
    args = shlex.split(command)
    assert args[:2] == ["attn-detect", "evaluate"] and f"--model {model}" in command
    result = CliRunner().invoke(app, args[1:])
    assert result.exit_code == 0, result.stderr
    printed = next(line for line in result.stdout.splitlines() if line.strip().startswith("│ all"))
    assert numbers(printed) == numbers(row)
