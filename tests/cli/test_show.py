"""--show for real: a window on an X server of its own (Xvfb), while a video runs; q ends the run and
keeps its records; without a display, a one-line refusal before any model loads. Skipped (saying why)
where Xvfb or xdotool is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app

pytestmark = pytest.mark.slow
DEMO = ["--model", "demo", "--backend", "torch", "--threads", "1", "--imgsz", "320"]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): the window cannot be tested here")
    number = 40 + os.getpid() % 200
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 20
    while not socket.exists() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.1)
    if not socket.exists():
        server.kill()
        pytest.skip(f"Xvfb did not start on :{number}")
    yield f":{number}"
    server.terminate()
    server.wait(10)


def windows(display: str) -> str:
    listing = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True, timeout=10
    )
    return listing.stdout


def start(args: list[str], display: str) -> subprocess.Popen:
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "detect_cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def video(tmp_path: Path, frames: int) -> Path:
    from detect_cli.demo.videos import write_video

    return write_video(tmp_path / "clip.mp4", frames, seed=5, size=320)[0]


def test_a_window_shows_the_video_and_the_run_ends_normally(display: str, tmp_path: Path) -> None:
    if shutil.which("xwininfo") is None:
        pytest.skip("xwininfo (x11-utils) is not installed: cannot see the window")
    out = tmp_path / "r.jsonl"
    run = start([str(video(tmp_path, 30)), *DEMO, "--show", "--out", str(out)], display)
    seen = threading.Event()

    def watch() -> None:
        while run.poll() is None and not seen.is_set():
            if "attn-detect" in windows(display):
                seen.set()
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, stderr = run.communicate(timeout=400)
    watcher.join(5)
    assert run.returncode == 0, stderr
    assert seen.is_set(), "no attn-detect window appeared while the video ran"
    assert len(out.read_text().splitlines()) == 30  # every frame's record
    assert "attn-detect" not in windows(display)  # closed at the end


def test_q_ends_the_run_and_keeps_the_records(display: str, tmp_path: Path) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed: cannot press q in the window")
    out = tmp_path / "r.jsonl"
    run = start([str(video(tmp_path, 400)), *DEMO, "--show", "--out", str(out)], display)
    env = {**os.environ, "DISPLAY": display}
    deadline = time.monotonic() + 300
    window = ""
    while not window and run.poll() is None and time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", "attn-detect"], capture_output=True, text=True, env=env)
        window = found.stdout.split()[0] if found.stdout.split() else ""
        time.sleep(0.2)
    assert window, "no window to press q in"
    time.sleep(1.0)  # a few frames shown
    subprocess.run(["xdotool", "key", "--window", window, "q"], env=env, timeout=10, check=False)
    subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "q"], env=env, timeout=10, check=False)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert "stopped early: the --show window was closed" in stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert 0 < len(records) < 400 and [r["frame"] for r in records] == list(range(len(records)))


def test_without_a_display_it_is_refused_before_the_model_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("$DISPLAY is how Linux says there is a screen")
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    # a model that does not exist: the refusal must come first, before any model is looked for
    run = CliRunner().invoke(app, [str(image), "--model", str(tmp_path / "missing.pt"), "--show"])
    assert run.exit_code == 2
    assert run.stderr.count("\n") <= 2 and "--show: no display" in run.stderr and "missing.pt" not in run.stderr
