"""`attn-detect export`: the report goes through the shared output layer; the older spellings still work."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app

pytestmark = pytest.mark.slow


def _run(args: list[str]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return result


def test_export_report_goes_through_the_same_layer(tmp_path: Path) -> None:
    base = ["export", "demo", "--to", "torchscript", "--dir", str(tmp_path / "models"), "--quiet"]
    report = tmp_path / "export.csv"
    result = _run([*base, "--out", str(report)])
    assert result.stdout == ""
    (row,) = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert row["format"] == "torchscript" and row["passed"] == "True" and Path(row["path"]).exists()
    doc = json.loads(_run([*base, "--json"]).stdout)
    assert doc["command"] == "export" and doc["exports"][0]["verification"]["passed"] is True
    assert doc["exports"][0]["path"] != row["path"]  # the second export took a free name


def test_the_older_export_spellings_still_work(tmp_path: Path) -> None:
    result = _run(["export", "demo", "--format", "torchscript", "--out", str(tmp_path / "models"), "--no-verify"])
    assert "taking it as --to torchscript" in result.stderr and "taking it as --dir" in result.stderr
    assert (tmp_path / "models" / "demo.torchscript").exists()
