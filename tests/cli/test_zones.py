"""detect --zone and --heatmap end to end: errors before any model loads, records and summary, the
saved video, --vid-stride, --resume, and a folder of frames."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLES

CLIP = SAMPLES / "video" / "shapes.mp4"
DEMO = ["--model", "demo", "--threads", "1", "--backend", "torch", "--no-progress"]
LEFT = "left=0,0,160,0,160,320,0,320"
runner = CliRunner()


def detect(*args: str):  # type: ignore[no-untyped-def]
    from detect_cli.cli.app import app

    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    ("zone", "says"),
    [
        ("bow=0,0,100,100,100,0,0,100", "--zone bow: the polygon crosses itself"),
        ("flat=0,0,100,0,200,0", "--zone flat: the polygon has no area"),
        ("2pts=0,0,5,5", "--zone 2pts: give at least three points"),
    ],
)
def test_a_bad_zone_exits_2_naming_it(zone: str, says: str) -> None:
    result = detect(str(CLIP), "--model", "demo", "--zone", LEFT, "--zone", zone)
    assert result.exit_code == 2 and says in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_bad_zone_in_the_config_file_exits_2_naming_it_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "zones.yaml"
    config.write_text("zones:\n  - door=0,0,100,0,100,100,0,100\n  - bow=0,0,100,100,100,0,0,100\n")
    result = detect(str(CLIP), "--model", "demo", "--config", str(config))
    assert (
        result.exit_code == 2 and "bow: the polygon crosses itself" in result.stderr and "zones.yaml" in result.stderr
    )


def test_zones_and_heatmaps_refuse_ray_and_a_file_for_a_folder(tmp_path: Path) -> None:
    result = detect(str(CLIP), "--model", "demo", "--zone", LEFT, "--engine", "ray")
    assert result.exit_code == 2 and "--zone and --heatmap run locally only" in result.stderr
    (tmp_path / "maps").write_text("mine")
    result = detect(str(CLIP), "--model", "demo", "--heatmap", str(tmp_path / "maps"))
    assert result.exit_code == 2 and "exists and is not a folder" in result.stderr


@pytest.mark.slow
def test_the_shipped_clip_with_zones_heatmaps_and_a_saved_video(tmp_path: Path) -> None:
    maps, saved = tmp_path / "maps", tmp_path / "saved"
    right = "right=50%,0%,100%,0%,100%,100%,50%,100%"
    result = detect(
        str(CLIP),
        *DEMO,
        "--zone",
        LEFT,
        "--zone",
        right,
        "--heatmap",
        str(maps),
        "--heatmap-classes",
        "all,circle",
        "--json",
        "--save",
        str(saved),
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    frames = document["images"]
    assert len(frames) == 100 and all(set(f["zones"]) == {"left", "right"} for f in frames)
    for record in frames:  # a frame's occupancy is its tracked boxes whose bottom centre is in the zone
        left = sum(
            1 for d in record["detections"] if d["track_id"] is not None and (d["box"][0] + d["box"][2]) / 2 <= 160
        )
        assert sum(record["zones"]["left"].values()) == left
    (zones,) = document["summary"]["zones"].values()
    assert zones["zones"]["right"] == [[160, 0], [320, 0], [320, 320], [160, 320]]  # % placed on the frame
    assert zones["per_zone"]["left"]["circle"]["entries"] >= 2 and zones["events"]
    assert {e["zone"] for e in zones["events"]} == {"left", "right"}
    assert all(e["dwell_s"] == pytest.approx(e["dwell_frames"] / 25, abs=0.01) for e in zones["events"])
    heatmaps = document["summary"]["heatmaps"]
    assert sorted(h["classes"] for h in heatmaps) == ["all", "circle"]
    every = next(h for h in heatmaps if h["classes"] == "all")
    tracked = sum(1 for f in frames for d in f["detections"] if d["track_id"] is not None)
    assert np.load(every["npy"]).sum() == tracked and cv2.imread(every["png"]).shape[0] == 320
    assert "Zones in" in result.stderr and "time in" in result.stderr
    assert (saved / "shapes.mp4").is_file()
    capture = cv2.VideoCapture(str(saved / "shapes.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, frame = capture.read()
    capture.release()
    assert ok and _zone_blue(frame[:, 157:163]).any(axis=1).mean() > 0.9  # the zones' edge, down the middle
    assert _zone_blue(frame[:, 100:110]).any(axis=1).mean() < 0.2


def _zone_blue(pixels: np.ndarray) -> np.ndarray:
    b, g, r = (pixels[..., k].astype(int) for k in range(3))
    return (b > 180) & (g > 140) & (r < 90)


@pytest.mark.slow
def test_time_in_zone_with_vid_stride_3_is_the_full_rate_figure_within_a_stride(tmp_path: Path) -> None:
    """Two shapes of different classes cross the frame (the crossing clip: clean tracks); each one's time
    in the middle zone, at every 3rd frame, is within 3 frames of the full-rate figure."""
    from detect_cli.demo.videos import write_video

    video, _ = write_video(tmp_path / "crossing.mp4", 120, seed=3, crossing=True)
    middle = "middle=30%,0%,70%,0%,70%,100%,30%,100%"
    times = {}
    for stride in ("1", "3"):
        result = detect(
            str(video), *DEMO, "--zone", middle, "--zone-anchor", "center", "--vid-stride", stride, "--json", "-q"
        )
        assert result.exit_code == 0, result.stderr
        (zones,) = json.loads(result.stdout)["summary"]["zones"].values()
        times[stride] = {name: s["max_s"] for name, s in zones["per_zone"]["middle"].items() if s["entries"]}
    assert set(times["1"]) == set(times["3"]) and len(times["1"]) == 2
    for name, full in times["1"].items():
        assert full > 1.0 and abs(times["3"][name] - full) <= 3 / 25


@pytest.mark.slow
def test_resume_continues_occupancy_and_heatmaps(tmp_path: Path) -> None:
    out, maps = tmp_path / "r.jsonl", tmp_path / "maps"
    args = [str(CLIP), *DEMO, "--zone", LEFT, "--out", str(out)]
    assert detect(*args, "-q").exit_code == 0
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:60]) + "\n" + lines[60][:20])  # killed while writing frame 60
    result = detect(*args, "--resume", "--heatmap", str(maps))
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(100))
    mean = sum(r["zones"]["left"].get("circle", 0) for r in records) / 100  # over the frames of both runs
    assert f"circle   │     2 │  {mean:.2f}" in result.stderr.replace("┃", "│")
    (npy,) = maps.glob("*.npy")
    assert np.load(npy).sum() == sum(1 for r in records for d in r["detections"] if d.get("track_id") is not None)


@pytest.mark.slow
def test_a_folder_of_frames_is_one_sequence_timed_in_frames(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    capture = cv2.VideoCapture(str(CLIP))
    for k in range(40):
        ok, frame = capture.read()
        assert ok
        cv2.imwrite(str(folder / f"f{k:03d}.png"), frame)
    capture.release()
    result = detect(str(folder), *DEMO, "--zone", LEFT, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    (key,) = document["summary"]["zones"]
    assert Path(key) == folder and all("zones" in record for record in document["images"])
    events = document["summary"]["zones"][key]["events"]
    assert events and all(e["dwell_s"] is None and e["dwell_frames"] > 0 for e in events if not e["brief"])
    assert all(0 <= e["entered_frame"] < 40 for e in events)
