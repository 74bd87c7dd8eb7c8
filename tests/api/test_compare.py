"""`detect_cli.compare` gives `attn-detect compare`'s figures, and its report is the CLI's JSON document."""

from __future__ import annotations

import pytest

import detect_cli
from tests.api.test_reports import LABELS, SHAPES, _cli_json

pytestmark = pytest.mark.slow


def test_compare_gives_the_cli_map50s(tmp_path) -> None:
    models = [detect_cli.Model("demo"), "demo-rtdetr"]
    report = detect_cli.compare(models, str(SHAPES), labels=LABELS)
    cli = _cli_json("compare", SHAPES, "--models", "demo,demo-rtdetr", "--labels", LABELS)
    assert report.map50 == {row["name"]: row["map50"] for row in cli["summary"]["models"]}
    assert set(report.map50) == {"demo", "demo-rtdetr"} and min(report.map50.values()) > 0.9
    assert len(report.to_dict()["images"]) == len(cli["images"]) == 24
    assert report.agreement and report.agreement[0]["reference"] == "demo"


def test_compare_refuses_fewer_than_two_models_as_the_cli_does() -> None:
    with pytest.raises(detect_cli.ConfigError, match="compare needs at least two models"):
        detect_cli.compare(["demo"], str(SHAPES))
    with pytest.raises(TypeError, match=r"compare\(models\): expected a list"):
        detect_cli.compare("demo,demo-rtdetr", str(SHAPES))
