"""Every command reads `--config FILE` through the one settings loader (a bad key is exit 2, naming it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES

IMAGE = str(SAMPLES / "shapes" / "shape_00003.jpg")
COMMANDS = {
    "detect": ["detect", IMAGE],
    "evaluate": ["evaluate", str(SAMPLES / "shapes"), "--labels", str(SAMPLES / "shapes" / "annotations.json")],
    "compare": ["compare", IMAGE, "-m", "demo,demo-rtdetr"],
    "export": ["export", "demo"],
    "attention": ["attention", IMAGE, "--json"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_reads_the_config(command: str, tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("conf: 0.5\nconfidence: 0.4\n", encoding="utf-8")
    result = CliRunner().invoke(app, [*COMMANDS[command], "--config", str(config)])
    assert result.exit_code == 2, result.stderr
    assert "unknown setting 'confidence'" in result.stderr and str(config) in result.stderr
    assert result.stdout == ""
