"""`evaluate --save` and `compare --labels --save` with the demo model: the pictures, the page, and the
numbers behind them in --format json; flags that cannot work are refused before any model loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES

SHAPES = SAMPLES / "shapes"
LABELS = SHAPES / "annotations.json"
runner = CliRunner()
FIGURES = ("pr_curve.png", "f1_curve.png", "confusion_matrix.png", "confusion_matrix_normalised.png", "tide_errors.png")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attention"], "error: --attention draws on the worst images of --save"),
        (["--save", str(SHAPES)], f"error: --save {SHAPES} is an input folder"),
    ],
)
def test_flags_that_cannot_work_are_refused_before_the_model_loads(extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["evaluate", str(SHAPES), "--labels", str(LABELS), "--model", "nope.pt", *extra])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message) and "nope.pt" not in result.stderr


def test_save_must_be_a_folder(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    result = runner.invoke(
        app, ["evaluate", str(SHAPES), "--labels", str(LABELS), "--model", "nope.pt", "--save", str(mine)]
    )
    assert result.exit_code == 2 and f"--save {mine}: exists and is not a folder" in result.stderr
    assert mine.read_text() == "mine"


def test_save_goes_with_box_labels_not_tracks(tmp_path: Path) -> None:
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,10,20,20,1,1,1\n")
    result = runner.invoke(app, ["evaluate", str(SHAPES), "--tracks", str(gt), "--save", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--save draws box evaluations" in result.stderr


@pytest.mark.slow
def test_evaluate_save_writes_the_pictures_and_json_carries_their_numbers(tmp_path: Path) -> None:
    save = tmp_path / "eval"
    args = [
        "evaluate",
        str(SHAPES),
        "--labels",
        str(LABELS),
        "--model",
        "demo",
        "--threads",
        "1",
        "--worst",
        "4",
        "--matrix-conf",
        "0.5",
        "--save",
        str(save),
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    analysis = doc["summary"]["analysis"]
    assert set(analysis) == {"conf", "pr_curves", "f1_curves", "confusion_matrix", "tide", "worst_images"}
    overall = analysis["pr_curves"]["overall"]
    assert len(overall["recall"]) == len(overall["precision"]) == 101
    assert overall["ap50"] == pytest.approx(doc["summary"]["overall"]["map50"], abs=1e-3)
    f1 = analysis["f1_curves"]["overall"]
    assert 0 < f1["best_conf"] < 1 and f1["best_f1"] == pytest.approx(max(f1["f1"]), abs=0.02)
    matrix = analysis["confusion_matrix"]
    assert matrix["conf"] == 0.5 and matrix["iou"] == 0.5 and matrix["names"][-1] == "background"
    counts = np.array(matrix["counts"])
    assert counts.sum() == matrix["matched"] + matrix["missed"] + matrix["false_detections"]
    assert counts[:-1].sum() == doc["summary"]["overall"]["instances"]  # every label once
    tide = analysis["tide"]
    assert [e["type"] for e in tide["errors"]] == ["cls", "loc", "both", "dupe", "bkg", "missed"]
    worst = analysis["worst_images"]
    assert 0 < len(worst) <= 4 and [w["errors"] for w in worst] == sorted((w["errors"] for w in worst), reverse=True)
    for name in FIGURES:
        assert (save / name).stat().st_size > 10_000
    page = (save / "index.html").read_text()
    linked = re.findall(r'<img src="([^"]+)"', page)
    assert set(FIGURES) <= set(linked) and len([p for p in linked if p.startswith("worst/")]) == len(worst)
    assert "at conf 0.5 and IoU 0.5" in page
    again = runner.invoke(app, args)  # the same folder again: the first run's files stay
    assert again.exit_code == 0 and "Errors by type (TIDE" in again.stdout
    assert (save / "index_1.html").exists() and (save / "pr_curve_1.png").exists()
    assert (save / "index.html").read_text() == page


@pytest.mark.slow
def test_compare_with_labels_says_which_errors_separate_the_models(tmp_path: Path) -> None:
    save = tmp_path / "cmp"
    result = runner.invoke(
        app,
        [
            "compare",
            str(SHAPES),
            "-m",
            "demo",
            "-m",
            "yolo26n.yaml",
            "--imgsz",
            "320",
            "--threads",
            "1",
            "--labels",
            str(LABELS),
            "--save",
            str(save),
            "--worst",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    evaluation = json.loads(result.stdout)["summary"]["evaluation"]
    assert set(evaluation["models"]) == {"demo", "yolo26n.yaml"}
    (diff,) = evaluation["differences"]
    kinds = {k["type"]: k for k in diff["types"]}
    # random weights find nothing the demo finds: the labels the demo finds are misses only yolo26n makes
    assert kinds["missed"]["b_only"] > 50 and kinds["missed"]["a_only"] == 0
    assert all(k["a_only"] <= k["a_errors"] and k["b_only"] <= k["b_errors"] for k in diff["types"])
    assert 0 < len(diff["images"]) <= 3
    page = (save / "index.html").read_text()
    linked = re.findall(r'<img src="([^"]+)"', page)
    assert "evaluation/demo_vs_yolo26n.yaml/differences.png" in linked
    assert len([p for p in linked if p.startswith("evaluation/demo_vs_yolo26n.yaml/differences/")]) == 3
    assert {"evaluation/demo/pr_curve.png", "evaluation/yolo26n.yaml/tide_errors.png"} <= set(linked)
    assert all((save / p).is_file() for p in linked)
