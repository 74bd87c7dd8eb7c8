"""What a first-time user sees: quiet when asked, one line for an empty image, no banners from
Ultralytics or Ray, and a progress display that tells the truth (issue 17)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli import progress
from detect_cli.cli.app import app
from tests.conftest import SAMPLES

SHAPES = SAMPLES / "shapes"
IMAGES = sorted(str(p) for p in SHAPES.glob("*.jpg"))  # 24
# random weights at 64 px: fast, and the behaviour under test does not depend on the boxes
TINY = ["--model", "yolo26n.yaml", "--imgsz", "64", "--threads", "1"]
DEMO = ["--model", "demo", "--backend", "torch", "--threads", "1"]
BANNER = "Creating new Ultralytics Settings"
BAR = re.compile(r"\d+(/\d+)? images")  # the bar's count: "3/24 images", or "3 images" with no total yet
runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def boxes(stdout: str) -> list[tuple[str, list]]:
    return [(Path(i["source"]).name, i["detections"]) for i in json.loads(stdout)["images"]]


# --- Quiet means quiet ---------------------------------------------------------------------------


def test_out_and_quiet_print_only_the_failed_inputs(tmp_path: Path) -> None:
    """The README's `find ... | attn-detect - --out results.csv --quiet`, with one path gone."""
    listing = "\n".join([*IMAGES[:4], str(tmp_path / "gone.jpg")]) + "\n"
    out = tmp_path / "results.csv"
    result = invoke("-", *DEMO, "--imgsz", "160", "--conf", "0.001", "--out", str(out), "--quiet", input=listing)
    assert result.exit_code == 3, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "gone.jpg" in lines[0], result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {Path(r["source"]).name for r in rows} == {*(Path(p).name for p in IMAGES[:4]), "gone.jpg"}
    assert len(rows) > 40  # the boxes went to the file, none to the terminal


def test_out_sends_the_summary_to_stderr_and_tables_only_when_asked(tmp_path: Path) -> None:
    plain = invoke(*IMAGES[:3], *TINY, "--out", str(tmp_path / "a.jsonl"))
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout == ""
    assert "Detections per class" in plain.stderr and "images processed" in plain.stderr
    asked = invoke(*IMAGES[:3], *TINY, "--out", str(tmp_path / "b.jsonl"), "--tables", "2", "--quiet")
    assert asked.exit_code == 0, asked.stderr
    assert [line.split()[0] for line in asked.stdout.splitlines() if "320x320" in line] == [
        "shape_00000.jpg",
        "shape_00001.jpg",
    ]
    assert "Detections per class" not in asked.stdout + asked.stderr


def test_compare_with_out_keeps_stdout_empty(tmp_path: Path) -> None:
    args = ["compare", *IMAGES[:2], "-m", "yolo26n.yaml,yolo26n.yaml", *TINY[2:]]
    result = invoke(*args, "--out", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and "Agreement" in result.stderr
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["settings"]["images"] == 2
    quiet = invoke(*args, "--out", str(tmp_path / "again.json"), "--quiet")
    assert quiet.stdout == "" and "Agreement" not in quiet.stderr
    assert all(line.startswith("warning: ") for line in quiet.stderr.splitlines())  # the random-weights ones


def test_an_image_without_detections_is_one_line(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 96, 3), 128, np.uint8))
    result = invoke(str(blank), str(SHAPES / "shape_00000.jpg"), *DEMO)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"blank\.png\s+96x64\s+no detections\s*", lines[0]), lines[0]
    assert "conf" in lines[2] and "shape_00000.jpg" in lines[1]  # the image with boxes keeps its table
    assert sum("conf" in line for line in lines) == 1


def _fresh_run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    config = tmp_path / f"yolo-config{len(extra)}"
    config.mkdir()
    env = {**os.environ, "YOLO_CONFIG_DIR": str(config), "YOLO_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "detect_cli", IMAGES[0], *DEMO, "--json", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )


def test_the_settings_banner_shows_only_with_verbose(tmp_path: Path) -> None:
    """Ultralytics prints it while being imported on a new machine (a fresh config dir)."""
    quiet, verbose = _fresh_run(tmp_path), _fresh_run(tmp_path, "--verbose")
    assert quiet.returncode == verbose.returncode == 0, quiet.stderr + verbose.stderr
    assert BANNER not in quiet.stderr + quiet.stdout
    assert BANNER in verbose.stderr  # held back, not lost
    assert boxes(quiet.stdout) == boxes(verbose.stdout)


def test_ray_says_nothing_of_its_log_level(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "r.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "detect_cli",
            *IMAGES[:2],
            *TINY,
            "--engine",
            "ray",
            "--actors",
            "1",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},  # a local instance of its own
    )
    assert proc.returncode == 0, proc.stderr
    assert "logging.cc" not in proc.stderr and "ray log level" not in proc.stderr, proc.stderr
    assert len(out.read_text().splitlines()) == 2


# --- Progress that tells the truth ---------------------------------------------------------------


def test_forced_progress_shows_the_total_and_changes_no_result() -> None:
    plain = invoke(str(SHAPES), *TINY, "--conf", "0.01", "--json")
    shown = invoke(str(SHAPES), *TINY, "--conf", "0.01", "--json", "--progress")
    assert plain.exit_code == shown.exit_code == 0, shown.stderr
    assert "/24 images" in shown.stderr and "loading yolo26n.yaml…" in shown.stderr
    assert not BAR.search(plain.stderr)  # not a terminal: no progress unless asked
    assert boxes(shown.stdout) == boxes(plain.stdout) and len(boxes(plain.stdout)) == 24


def test_a_list_on_stdin_is_not_read_twice() -> None:
    result = invoke("-", *TINY, "--json", "--progress", input="\n".join(IMAGES[:3]) + "\n")
    assert result.exit_code == 0, result.stderr
    assert len(boxes(result.stdout)) == 3
    assert "3 images" in result.stderr and "/3 images" not in result.stderr  # counted as it goes, no total


def test_progress_on_a_terminal_unless_quiet_or_no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_isatty", lambda stream: True)
    args = [*IMAGES[:2], *TINY, "--json"]
    assert "/2 images" in invoke(*args).stderr
    assert not BAR.search(invoke(*args, "--no-progress").stderr)
    assert not BAR.search(invoke(*args, "--quiet").stderr)


def test_every_command_that_runs_a_model_has_the_bar(tmp_path: Path) -> None:
    labels = str(SHAPES / "annotations.json")
    evaluate = invoke("evaluate", str(SHAPES), "--labels", labels, *TINY, "--json", "--progress")
    assert evaluate.exit_code == 0, evaluate.stderr
    assert "/24 images" in evaluate.stderr and json.loads(evaluate.stdout)["summary"]["images"] == 24
    compare = invoke("compare", *IMAGES[:3], "-m", "yolo26n.yaml,yolo26n.yaml", *TINY[2:], "--json", "--progress")
    assert compare.exit_code == 0, compare.stderr
    assert "/3 images" in compare.stderr and "loading yolo26n.yaml (2/2)…" in compare.stderr
    attention = invoke("attention", *IMAGES[:2], *TINY, "--json", "--progress")
    assert attention.exit_code == 0, attention.stderr
    assert "/2 images" in attention.stderr and len(json.loads(attention.stdout)["images"]) == 2
    export = invoke(
        "export",
        "yolo26n.yaml",
        "--to",
        "torchscript",
        "--imgsz",
        "64",
        "--dir",
        str(tmp_path),
        "--verify-images",
        IMAGES[0],
        "--verify-images",
        IMAGES[1],
        "--json",
        "--progress",
    )
    assert export.exit_code == 0, export.stderr
    assert "verifying against PyTorch" in export.stderr and "/2 images" in export.stderr
    assert json.loads(export.stdout)["exports"][0]["verification"]["images"] == 2


# --- The progress module, without a model --------------------------------------------------------


def test_counting_reads_no_list_twice_and_leaves_out_what_was_done(tmp_path: Path) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("\n".join(IMAGES[:5]) + "\n")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)  # a second reader would steal its lines, or wait for ever
    for sources in (["-"], [f"@{fifo}", IMAGES[0]]):
        bar = progress.RunProgress(True)
        bar.count(sources, recursive=False)
        assert bar.counter is None
    bar = progress.RunProgress(True)
    bar.count([f"@{listed}", str(SHAPES), "nowhere.jpg"], recursive=False)
    assert bar.counter is not None
    bar.counter.join(30)
    bar.start("detecting", done={0, 3})
    assert bar._progress.tasks[0].total == 5 + 24 + 1 - 2  # the missing file is one (error) record too


def test_videos_count_as_their_frames_and_a_resumed_one_as_those_left(tmp_path: Path) -> None:
    """With video options the bar counts frames (the shipped clip: 100, every 3rd: 34; a resumed video
    after frame 60: 13), images one each; a stream leaves it without a total."""
    from detect_cli.inputs.video import VideoOptions

    clip = str(SAMPLES / "video" / "shapes.mp4")
    bar = progress.RunProgress(True)
    bar.count([IMAGES[0], clip, clip], recursive=False, video=VideoOptions(stride=3))
    bar.counter.join(30)
    bar.start("detecting", done={0}, partial={2: 60})
    task = bar._progress.tasks[0]
    assert task.total == 34 + 13 and task.fields["unit"] == "frames"
    bar = progress.RunProgress(True)
    bar.count([clip], recursive=False)  # no video options: a video is one step, as for compare
    bar.counter.join(30)
    bar.start("comparing")
    assert bar._progress.tasks[0].total == 1 and not bar._progress.tasks[0].fields.get("unit")
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # never opened by the count (it would block, and take what the run should read)
    bar = progress.RunProgress(True)
    bar.count([str(fifo), clip], recursive=False, video=VideoOptions())
    bar.counter.join(30)
    assert not bar.counter.is_alive()
    bar.start("detecting")
    assert bar._progress.tasks[0].total == 1 + 100
    bar = progress.RunProgress(True)
    bar.count([clip, "rtsp://cam.local/live"], recursive=False, video=VideoOptions())
    bar.counter.join(30)
    bar.start("detecting")
    assert bar._progress.tasks[0].total is None


def test_status_is_a_note_without_a_bar(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress.RunProgress(False)
    bar.loading("demo")
    bar.status("preparing a faster runtime…")
    bar.count([str(SHAPES)], recursive=False)
    assert bar.counter is None  # no bar, no walk
    assert capsys.readouterr().err.strip() == "preparing a faster runtime…"
