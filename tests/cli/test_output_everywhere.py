"""Every command writes its results through the one output layer: `--format json|jsonl|csv` on stdout
and `--out FILE` (format from the extension) give the same parseable records, with nothing else on
stdout; `--format table` with `--out` is refused the same way everywhere."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES

IMAGE = str(SAMPLES / "shapes" / "shape_00003.jpg")
SHAPES = SAMPLES / "shapes"
# (command line, the records' key in the JSON document, how many records, what a CSV row holds)
COMMANDS = {
    "detect": (["detect", IMAGE, "--model", "demo"], "images", 1, "class_name"),
    "evaluate": (
        ["evaluate", str(SHAPES / "shape_00003.jpg"), "--labels", str(SHAPES / "annotations.json"), "--model", "demo"],
        "classes",
        None,
        "map50",
    ),
    "compare": (["compare", IMAGE, "-m", "demo,demo-rtdetr"], "images", 1, "images_per_s"),
    "attention": (["attention", IMAGE, "--model", "demo"], "images", 1, "attention_mass_in_box"),
}
pytestmark = pytest.mark.slow


def _run(args: list[str]):
    result = CliRunner().invoke(
        app, [*args, "--backend", "torch"] if args[0] in {"detect", "compare", "evaluate"} else args
    )
    assert result.exit_code == 0, result.stderr
    return result


def _untimed(value):
    """A record without its timings (which differ from run to run)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "speed_ms"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_json_jsonl_and_csv_on_stdout_parse_and_agree(command: str) -> None:
    args, key, count, column = COMMANDS[command]
    doc = json.loads(_run([*args, "--format", "json", "--quiet"]).stdout)
    assert doc["schema_version"] == 1 and doc["command"] == command and "summary" in doc
    records = doc[key]
    assert count is None or len(records) == count
    lines = [json.loads(line) for line in _run([*args, "--format", "jsonl", "--quiet"]).stdout.splitlines()]
    assert _untimed(lines) == _untimed(records)  # the same records, rounded the same way
    rows = list(csv.DictReader(io.StringIO(_run([*args, "--format", "csv", "--quiet"]).stdout)))
    assert rows and column in rows[0] and all(row[column] != "" for row in rows)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_file_takes_its_format_from_the_extension_and_stdout_stays_empty(command: str, tmp_path: Path) -> None:
    args, key, _, _ = COMMANDS[command]
    out = tmp_path / "results.jsonl"
    result = _run([*args, "--out", str(out), "--quiet"])
    assert result.stdout == ""
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert _untimed(first) == _untimed(json.loads(_run([*args, "--format", "json", "--quiet"]).stdout)[key][0])
    table = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r.json"), "--format", "table"])
    assert table.exit_code == 2 and "tables are for the terminal" in table.stderr
