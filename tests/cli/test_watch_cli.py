"""detect --watch in real processes: files as they land, once each; Ctrl-C and SIGKILL; --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.helpers import jpeg_bytes

pytestmark = pytest.mark.slow
MODEL = ["--model", "demo", "--threads", "1", "--backend", "torch"]
SHAPES = sorted((SAMPLES / "shapes").glob("*.jpg"))


def start(folder: Path, out: Path, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "detect_cli", "detect", str(folder), "--watch", "--out", str(out), *MODEL, *more],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a test runner may start us ignoring it
    )


def records(out: Path) -> list[dict]:
    if not out.exists():
        return []
    lines = out.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def wait_for(out: Path, count: int, proc: subprocess.Popen[str], timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = records(out)
        if len(found) >= count:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the watcher ended (exit {proc.returncode}): {proc.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"{len(records(out))} of {count} records after {timeout} s: {proc.stderr.read()}")  # type: ignore[union-attr]


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, err


def test_watch_reads_whole_files_once_and_ctrl_c_keeps_the_records(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    for shape in SHAPES[:2]:
        (folder / shape.name).write_bytes(shape.read_bytes())
    out = tmp_path / "r.jsonl"
    proc = start(folder, out)
    try:
        wait_for(out, 2, proc)
        data = SHAPES[2].read_bytes()
        with open(folder / "slow.jpg", "wb") as fh:  # a copy that stalls: not an error, just not done yet
            for i in range(4):
                fh.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
                fh.flush()
                time.sleep(0.7)
        (folder / "brief.jpg").write_bytes(data[:500])
        time.sleep(0.2)
        os.remove(folder / "brief.jpg")  # deleted before it was read: a note
        found = wait_for(out, 3, proc)
        time.sleep(2)  # room for a wrong extra record
    finally:
        code, err = interrupt(proc)
    found = records(out)
    assert code == 130
    assert [Path(r["source"]).name for r in found] == ["shape_00000.jpg", "shape_00001.jpg", "slow.jpg"]
    assert all(r["status"] == "ok" for r in found) and found[2]["file"]["size"] == len(data)
    assert [r["index"] for r in found] == [0, 1, 2]
    assert "brief.jpg: deleted before it was read" in err
    assert "Traceback" not in err


def test_sigkill_while_files_arrive_then_resume_reads_each_file_exactly_once(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    out = tmp_path / "r.jsonl"
    names = [f"img_{i:03d}.jpg" for i in range(40)]
    stop = threading.Event()

    def drop() -> None:  # 10 files a second, written as a copier writes them, while the watcher lives and dies
        for k, name in enumerate(names):
            if stop.is_set():
                return
            tmp = folder / f".{name}.part"
            tmp.write_bytes(jpeg_bytes(96, 128, seed=k))
            os.replace(tmp, folder / name)
            time.sleep(0.1)

    first = start(folder, out)
    wait_for(out, 0, first)
    writer = threading.Thread(target=drop, daemon=True)
    try:
        time.sleep(1)  # the watcher is up (it loads the model)
        writer.start()
        wait_for(out, 5, first)
        first.send_signal(signal.SIGKILL)  # mid-stream: a record may be cut in half
        first.wait(10)
        before = records(out)
        assert 5 <= len(before) < len(names)
        replaced = folder / names[0]
        replaced.write_bytes(jpeg_bytes(96, 128, seed=999))  # a new version while no watcher runs
        time.sleep(1.5)  # more land meanwhile
        second = start(folder, out, "--resume")
        try:
            writer.join(30)
            found = wait_for(out, len(names) + 1, second)
            time.sleep(2)  # room for a record written twice
        finally:
            code, err = interrupt(second)
    finally:
        stop.set()
        first.kill()
    found = records(out)
    counts = Counter(Path(r["source"]).name for r in found)
    assert counts == Counter({**dict.fromkeys(names, 1), names[0]: 2}), counts  # the replaced one: two versions
    assert all(r["status"] == "ok" for r in found)
    assert len({r["index"] for r in found}) == len(found)  # the second run numbers on
    versions = [r["file"] for r in found if Path(r["source"]).name == names[0]]
    assert versions[0] != versions[1]
    assert code == 130 and "resuming" in err and "Traceback" not in err


def test_watch_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from detect_cli.cli.app import app

    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes())
    runner = CliRunner()
    not_folder = runner.invoke(app, ["detect", str(image), "--watch", *MODEL])
    assert not_folder.exit_code == 2 and "not a folder" in not_folder.output
    csv = runner.invoke(app, ["detect", str(tmp_path), "--watch", "--resume", "--out", str(tmp_path / "r.csv"), *MODEL])
    assert csv.exit_code == 2 and "FILE.jsonl" in csv.output
