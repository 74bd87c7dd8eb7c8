"""`attention` on a video: one record per frame (each frame explained in one pass, like a still) and an
overlay video with as many frames as were explained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
CLIP = SAMPLES / "video" / "shapes.mp4"


def test_a_video_gives_records_per_frame_and_an_overlay_video(tmp_path: Path) -> None:
    save = tmp_path / "att"
    result = CliRunner().invoke(
        app,
        [
            "attention",
            str(CLIP),
            "--model",
            "demo",
            "--threads",
            "1",
            "--vid-stride",
            "25",
            "--save",
            str(save),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["images"]
    assert [r["frame"] for r in records] == [0, 25, 50, 75] and all(r["status"] == "ok" for r in records)
    assert [r["time_s"] for r in records] == sorted(r["time_s"] for r in records) and records[1]["time_s"] > 0
    assert all(r["detections"] and "attention" in r["detections"][0] for r in records)
    video = Path(records[0]["overlays"])
    assert video.parent == save and video.suffix == ".mp4"
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    ok, frame = capture.read()
    assert ok and frame.shape[:2] == (records[0]["height"], records[0]["width"])
    assert "overlay video of every frame" in (save / "index.html").read_text(encoding="utf-8")


def test_a_video_is_one_table_not_one_per_frame(tmp_path: Path) -> None:
    still = sorted((SAMPLES / "shapes").glob("*.jpg"))[0]
    deep = tmp_path / ("a" * 60) / ("b" * 60)  # a title longer than the table is wide stays on one line
    deep.mkdir(parents=True)
    clip = Path(shutil.copy(CLIP, deep / CLIP.name))
    result = CliRunner().invoke(
        app,
        ["attention", str(clip), str(still), "--model", "demo", "--threads", "1", "--vid-stride", "25"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(f"{clip}: 4 frame(s)") == 1
    assert result.stdout.count(str(clip)) == 1  # no per-frame tables
    assert result.stdout.count(f"{still}: ") == 1  # a still keeps its table of detections, after the video's
    assert result.stdout.index(str(clip)) < result.stdout.index(str(still))
    assert "mass in box" in result.stdout and "circle" in result.stdout
