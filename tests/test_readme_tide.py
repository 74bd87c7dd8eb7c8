"""The README's TIDE rows for the shipped shapes are what `attn-detect evaluate` computes for them."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import REPO

TABLE = re.search(r"<!-- tide-table -->\n(.+?)<!-- /tide-table -->", (REPO / "README.md").read_text(), re.S)
ROWS = [[c.strip() for c in line.strip("|").split("|")] for line in TABLE.group(1).splitlines()[2:]] if TABLE else []
KINDS = ("cls", "loc", "both", "dupe", "bkg", "missed")


def test_the_readme_has_both_models_on_both_sets() -> None:
    assert [(r[0], r[1].split()[0]) for r in ROWS] == [
        ("demo", "shapes"),
        ("demo-rtdetr", "shapes"),
        ("demo", "heldout"),
        ("demo-rtdetr", "heldout"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("row", [r for r in ROWS if r[1].startswith("shapes")], ids=lambda r: r[0])
def test_the_shapes_rows_are_what_evaluate_computes(row: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)  # the defaults a user gets, as the README ran
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "sample_images/shapes",
            "--labels",
            "sample_images/shapes/annotations.json",
            "--model",
            row[0],
            "--format",
            "json",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.stderr
    analysis = json.loads(result.stdout)["summary"]["analysis"]
    errors = {e["type"]: e for e in analysis["tide"]["errors"]}
    shown = [f"{errors[k]['dap']:.4f} ({errors[k]['errors']})" for k in KINDS]
    best = analysis["f1_curves"]["overall"]
    assert [row[2], *row[3:9], row[9]] == [
        f"{analysis['tide']['ap50']:.4f}",
        *shown,
        f"{best['best_f1']:.3f} ({best['best_conf']:.3f})",
    ]
