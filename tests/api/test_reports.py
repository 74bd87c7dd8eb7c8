"""`Model.evaluate` and `detect_cli.compare` give the CLI's figures, and `to_dict()` is its JSON document."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import detect_cli
from detect_cli.cli.app import app
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
SHAPES = SAMPLES / "shapes"
LABELS = SHAPES / "annotations.json"


def _cli_json(*args: str) -> dict:
    done = CliRunner().invoke(app, [*map(str, args), "--format", "json"])
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def _without_timings(doc: dict) -> dict:
    """The document without what differs run to run (times, and what follows from them)."""
    drop = {"speed_ms", "wall_s", "stage_ms", "warmup_ms", "ms", "latency_ms", "images_per_s", "run"}

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in drop and not k.endswith("_ms")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(doc)


def test_evaluate_gives_the_cli_map50_and_its_document(tmp_path) -> None:
    model = detect_cli.Model("demo")
    report = model.evaluate(SHAPES, labels=LABELS)
    cli = _cli_json("evaluate", SHAPES, "--labels", LABELS, "--model", "demo")
    doc = report.to_dict()
    assert doc["summary"]["overall"]["map50"] == cli["summary"]["overall"]["map50"] and report.map50 > 0.9
    assert round(report.map50, 4) == cli["summary"]["overall"]["map50"] == doc["classes"][-1]["map50"]
    assert _without_timings(doc) == _without_timings(cli)
    assert report.to_dict() == doc  # a report asked twice gives the same answer
    few = [SHAPES / f"shape_0000{n}.jpg" for n in range(3)]
    job = detect_cli.EvaluateJob(model.settings, model.detector, detect_cli.Labels.load(LABELS, model.names))
    first, second = (job.run(detect_cli.iter_sources(few)) for _ in range(2))  # a job run twice: the same answer
    assert first.images == second.images == 3 and first.overall.map50 == second.overall.map50


def test_evaluate_with_tracks_gives_the_cli_scores_and_its_document() -> None:
    """`Model.evaluate(video, tracks=gt)` scores a tracker as `evaluate --tracks` does."""
    video, truth = SAMPLES / "video" / "shapes.mp4", SAMPLES / "video" / "shapes_gt.txt"
    report = detect_cli.Model("demo").evaluate(video, tracks=truth, vid_stride=6)
    cli = _cli_json("evaluate", video, "--tracks", truth, "--model", "demo", "--vid-stride", "6")
    assert report.to_dict()["sequences"] == cli["sequences"] and report.frames == cli["sequences"][0]["frames"]
    assert report.idf1 == cli["sequences"][0]["idf1"] and isinstance(report.switches, int)
