"""Hostile OUTPUTS: what a run writes (--out, --save, export --out) must never destroy what the user
already has, nor end a batch for one image. One table of cases, then the cases that need real
processes (two runs at once, a closed pipe)."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES
from tests.helpers import jpeg_bytes

MODEL = ["--model", "yolo26n.yaml", "--imgsz", "64", "--conf", "0.0", "--max-det", "3", "--threads", "1"]
SHAPE = SAMPLES / "shapes" / "shape_00001.jpg"
LONG_NAME = "n" * 296 + ".jpg"  # 300 characters: more than a file system allows in one name
runner = CliRunner()


@pytest.fixture(scope="module")
def any_path_server() -> Iterator[str]:
    """127.0.0.1 server answering every GET with a small JPEG, whatever the path (long names)."""
    photo = jpeg_bytes(40, 56, seed=5)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            self.wfile.write(photo)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass
class World:
    """What a case's factory sets up: the folders, and the bytes that must survive the run."""

    tmp: Path
    url: str
    keep: dict[Path, bytes | None]

    def image(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHAPE, path)
        return path

    def protect(self, path: Path) -> Path:
        """The file (or its absence: None) must be exactly so after the run."""
        self.keep[path] = path.read_bytes() if path.exists() else None
        return path


Check = Callable[["World", object], None]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[World], list[str]]  # the command line
    code: int
    message: str = ""  # in the one error line, when the run is refused
    check: Check | None = None  # what else must be true afterwards
    loads_model: bool = True  # refusals come before the model loads


def _folder(w: World) -> Path:
    w.protect(w.image(w.tmp / "in" / "a.jpg"))
    w.protect(w.image(w.tmp / "in" / "sub" / "b.jpg"))
    return w.tmp / "in"


def _records(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def _saved_beside_the_users_file(w: World, result) -> None:
    assert sorted(p.name for p in (w.tmp / "saved").iterdir()) == ["a.jpg", "a_1.jpg"]


def _symlinked_subfolder_refused_alone(w: World, result) -> None:
    records = {Path(r["source"]).name: r for r in _records(result)}
    assert list((w.tmp / "outside").iterdir()) == []
    assert records["b.jpg"]["status"] == "ok" and len(records["b.jpg"]["detections"]) == 3  # nothing computed lost
    assert records["b.jpg"]["warnings"][0].startswith("annotated image not saved: ")
    assert records["a.jpg"]["warnings"] == [] and (w.tmp / "saved" / "a.jpg").is_file()
    assert "Not saved (1" in result.stderr
    assert "warning: " in result.stderr and "sub/b.jpg: annotated image not saved" in result.stderr


def _long_name_saved(w: World, result) -> None:
    [saved] = (w.tmp / "saved").iterdir()
    assert saved.suffix == ".jpg" and len(saved.name.encode()) <= 255 and saved.name.startswith("nnnn")
    assert _records(result)[0]["warnings"] == []


def _no_sidecar_beside_the_device(w: World, result) -> None:
    assert not Path("/dev/full.run.json").exists() and not Path("/dev/full.lock").exists()
    assert "No space left on device" in result.stderr


def _export_refused(w: World, result) -> None:
    assert not (w.tmp / "model_file").with_suffix(".torchscript").exists()


def _lock_file_gone(w: World, result) -> None:
    assert not (w.tmp / "r.jsonl.lock").exists() and (w.tmp / "r.jsonl").read_text().count("\n") == 2


CASES = [
    Case(
        "save into the input folder",
        lambda w: [str(_folder(w)), "--save", str(w.tmp / "in")],
        2,
        "is an input folder",
        loads_model=False,
    ),
    Case(
        "save into the folder of an input file",
        lambda w: [str(_folder(w) / "a.jpg"), "--save", str(w.tmp / "in")],
        2,
        "holds the input",
        loads_model=False,
    ),
    Case(
        "save inside a folder read recursively",
        lambda w: [str(_folder(w)), "-r", "--save", str(w.tmp / "in/ann")],
        2,
        "read back as inputs",
        lambda w, r: _absent(w.tmp / "in" / "ann"),
        loads_model=False,
    ),
    Case(
        "save inside a recursive glob's folder",
        lambda w: [str(_folder(w)) + "/**/*.jpg", "--save", str(w.tmp / "in" / "sub" / "ann")],
        2,
        "read back as inputs",
        loads_model=False,
    ),
    Case(
        "save through a symlink to the input folder",
        lambda w: [str(_folder(w)), "--save", str(_symlink(w.tmp / "link", w.tmp / "in"))],
        2,
        "is an input folder",
        loads_model=False,
    ),
    Case(
        "save beside a folder read flat is fine",
        lambda w: [str(_folder(w)), "--save", str(w.tmp / "in" / "ann")],
        0,
        check=lambda w, r: _present(w.tmp / "in" / "ann" / "a.jpg"),
    ),
    Case(
        "out is an input file",
        lambda w: [str(_folder(w) / "a.jpg"), "--out", str(w.tmp / "in" / "a.jpg"), "--format", "jsonl"],
        2,
        "is an input",
        loads_model=False,
    ),
    Case(
        "out is the list file",
        lambda w: [f"@{_listing(w)}", "--out", str(w.tmp / "list.txt"), "--format", "jsonl"],
        2,
        "list file",
        loads_model=False,
    ),
    Case(
        "out is a file named in the list file",
        lambda w: [f"@{_listing(w)}", "--out", str(w.tmp / "in" / "a.jpg"), "--format", "csv"],
        2,
        "is an input",
        loads_model=False,
    ),
    Case(
        "save never replaces a file already there",
        lambda w: [str(_folder(w) / "a.jpg"), "--save", str(w.protect(w.image(w.tmp / "saved" / "a.jpg")).parent)],
        0,
        check=_saved_beside_the_users_file,
    ),
    Case(
        "save under a symlinked sub-folder pointing outside: that image only",
        lambda w: [str(_folder(w)), "-r", "--format", "jsonl", "--save", str(_saved_with_escape(w))],
        3,
        check=_symlinked_subfolder_refused_alone,
    ),
    Case(
        "a 300-character name from a URL",
        lambda w: [f"{w.url}/{LONG_NAME}", "--format", "jsonl", "--save", str(w.tmp / "saved")],
        0,
        check=_long_name_saved,
    ),
    Case(
        "out is /dev/full",
        lambda w: [str(_folder(w) / "a.jpg"), "--out", "/dev/full", "--format", "jsonl"],
        2,
        "/dev/full",
        _no_sidecar_beside_the_device,
    ),
    *(
        Case(
            f"out {suffix} under a file",
            lambda w, s=suffix: [str(_folder(w) / "a.jpg"), "--out", str(w.protect(_file(w.tmp / "f")) / f"r{s}")],
            2,
            "is not a folder",
            loads_model=False,
        )
        for suffix in (".json", ".jsonl", ".csv")
    ),
    Case(
        "out locked by another run",
        lambda w: [str(_folder(w) / "a.jpg"), "--out", str(_locked(w))],
        2,
        "being written by another run",
        loads_model=False,
    ),
    Case(
        "out is a hard link to the file another run writes",
        lambda w: [str(_folder(w) / "a.jpg"), "--out", str(_locked_through_a_hard_link(w))],
        2,
        "being written by another run, under another name (a hard link",
        loads_model=False,
    ),
    Case(
        "out is a hard link to an input image",
        lambda w: [
            str(_folder(w) / "a.jpg"),
            "--format",
            "jsonl",
            "--out",
            str(_hard_link(w.tmp / "in" / "a.jpg", w.tmp / "r.jsonl")),
        ],
        2,
        "is an input: it would be overwritten",
        loads_model=False,
    ),
    Case(
        "out is a hard link to the config",
        lambda w: [
            str(_folder(w) / "a.jpg"),
            "--config",
            str(w.protect(_config(w))),
            "--format",
            "jsonl",
            "--out",
            str(_hard_link(w.tmp / "c.yaml", w.tmp / "r.jsonl")),
        ],
        2,
        "is the config file: it would be overwritten",
        loads_model=False,
    ),
    Case(
        "lock released and removed after a run",
        lambda w: [str(_folder(w)), "-r", "--out", str(w.tmp / "r.jsonl")],
        0,
        check=_lock_file_gone,
    ),
    Case(
        "resume: run record of the wrong type",
        lambda w: [str(_folder(w) / "a.jpg"), "--out", str(_results(w, sidecar="[]")), "--resume"],
        2,
        "not one attn-detect wrote",
    ),
    Case(
        "resume: a record of the wrong type",
        lambda w: [str(_folder(w) / "a.jpg"), "--out", str(_results(w, lines='"x"\n')), "--resume"],
        2,
        "line 1 is not an attn-detect record",
    ),
    Case(
        "export --dir is a file",
        lambda w: ["export", "yolo26n.yaml", "--to", "torchscript", "--dir", str(w.protect(_file(w.tmp / "f")))],
        2,
        "exists and is not a folder",
        _export_refused,
    ),
]


def _absent(path: Path) -> None:
    assert not path.exists()


def _present(path: Path) -> None:
    assert path.is_file()


def _symlink(link: Path, target: Path) -> Path:
    link.symlink_to(target, target_is_directory=True)
    return link


def _file(path: Path) -> Path:
    path.write_bytes(b"the user's own file\n")
    return path


def _listing(w: World) -> Path:
    listing = w.tmp / "list.txt"
    listing.write_text(f"{_folder(w) / 'a.jpg'}\n{w.tmp / 'in' / 'sub'}\n")
    w.protect(listing)
    return listing


def _saved_with_escape(w: World) -> Path:
    (w.tmp / "outside").mkdir()
    (w.tmp / "saved").mkdir()
    _symlink(w.tmp / "saved" / "sub", w.tmp / "outside")
    return w.tmp / "saved"


def _results(w: World, *, sidecar: str | None = None, lines: str | None = None) -> Path:
    """A results file and run record from a real run, then one of them spoiled."""
    out = w.tmp / "r.jsonl"
    assert runner.invoke(app, [str(w.image(w.tmp / "first.jpg")), *MODEL, "--out", str(out)]).exit_code == 0
    if sidecar is not None:
        Path(str(out) + ".run.json").write_text(sidecar)
    if lines is not None:
        out.write_text(lines)
    w.protect(out)
    return out


_held: list[int] = []


def _locked(w: World) -> Path:
    """Another run's lock: this process holds the flock, as a second process would."""
    out = w.protect(_file(w.tmp / "r.jsonl"))
    fd = os.open(str(out) + ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held.append(fd)
    return out


def _locked_through_a_hard_link(w: World) -> Path:
    """Another run writes r.jsonl and holds its lock on the file itself; this run's --out is a
    second name for that file, with a lock file of its own name that no one holds."""
    theirs = w.protect(_file(w.tmp / "r.jsonl"))
    fd = os.open(theirs, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held.append(fd)
    return _hard_link(theirs, w.tmp / "other-name.jsonl")


def _hard_link(target: Path, link: Path) -> Path:
    os.link(target, link)
    return link


def _config(w: World) -> Path:
    (w.tmp / "c.yaml").write_text("conf: 0.3\n")
    return w.tmp / "c.yaml"


@pytest.fixture(autouse=True)
def _release_held_locks() -> Iterator[None]:
    yield
    while _held:
        os.close(_held.pop())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_output(case: Case, tmp_path: Path, any_path_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(tmp_path, any_path_server, {})
    args = case.build(world)
    if not case.loads_model:
        from detect_cli.cli.commands import detect

        monkeypatch.setattr(detect, "open_detector", _no_model_expected)
    result = runner.invoke(app, [*args, *MODEL] if args[0] != "export" else args)
    assert result.exit_code == case.code, result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if case.code == 2:
        assert len(errors) == 1 and case.message in errors[0], result.stderr
    for path, before in world.keep.items():
        assert (path.read_bytes() if path.exists() else None) == before, f"{path} changed"
    if case.check:
        case.check(world, result)


def _no_model_expected(*args, **kwargs):
    raise AssertionError("the model was loaded before the outputs were checked")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "detect_cli", *args]


def test_two_runs_on_one_out_file(tmp_path: Path) -> None:
    """Real processes: the second fails at once naming the file; the first writes every line."""
    folder = tmp_path / "in"
    for i in range(100):
        folder.mkdir(exist_ok=True)
        shutil.copy(SHAPE, folder / f"img_{i:02d}.jpg")
    out = tmp_path / "r.jsonl"
    first = subprocess.Popen(
        _cli(str(folder), *MODEL, "--out", str(out), "--quiet"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not Path(str(out) + ".lock").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    start = time.monotonic()
    second = subprocess.run(_cli(str(folder), *MODEL, "--out", str(out)), capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    assert second.returncode == 2, second.stderr
    assert "being written by another run" in second.stderr and str(out) in second.stderr
    assert time.monotonic() - start < 30  # it did not wait for the first run, nor load a model
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(100))
    assert not Path(str(out) + ".lock").exists()


def test_closed_stdout_ends_the_run_quietly(tmp_path: Path) -> None:
    """`... --format jsonl | head -1`: one line through, no message, the shell's SIGPIPE code (141)."""
    inputs = [str(SHAPE)] * 200
    command = shlex.join(_cli(*inputs, *MODEL, "--format", "jsonl", "--quiet"))
    script = f'set -o pipefail; {command} 2>{tmp_path / "err.txt"} | head -1; echo "codes ${{PIPESTATUS[*]}}"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    first, codes = proc.stdout.splitlines()
    assert json.loads(first)["index"] == 0
    assert codes == "codes 141 0"
    stderr = (tmp_path / "err.txt").read_text()
    for word in ("BrokenPipe", "Exception ignored", "unexpected", "Traceback", "error:"):
        assert word not in stderr, stderr


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["detect", "{image}", "--model", "{model}"], "the model file"),
        (["detect", "{image}", "--model", "demo", "--config", "{config}"], "the config file"),
        (["evaluate", "{image}", "--model", "demo", "--labels", "{labels}"], "the ground truth"),
        (["evaluate", "{image}", "--model", "demo", "--tracks", "{labels}"], "the ground truth"),
        (["compare", "{image}", "--models", "demo,{model}"], "the model file {model}"),
        (["attention", "{image}", "--model", "{model}"], "the model file"),
    ],
)
def test_out_never_replaces_the_runs_own_files(tmp_path: Path, command: list[str], what: str) -> None:
    """--format json --out FILE names the format, so any name is allowed: but not the model, the
    config or the ground truth of the run, which would be gone before they are read."""
    files = {
        "image": tmp_path / "a.jpg",
        "model": tmp_path / "m.pt",
        "config": tmp_path / "c.yaml",
        "labels": tmp_path / "gt.json",
    }
    shutil.copy(SHAPE, files["image"])
    files["model"].write_bytes(b"weights the user trained for a week")
    files["config"].write_text("conf: 0.3\n")
    files["labels"].write_text('{"images": [], "annotations": [], "categories": []}')
    before = {name: path.read_bytes() for name, path in files.items()}
    args = [part.format(**files) for part in command]
    target = next(files[name] for name in ("model", "config", "labels") if f"{{{name}}}" in command[-1])
    result = runner.invoke(app, [*args, "--format", "json", "--out", str(target)])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"error: --out {target} is {what.format(**files)}: it would be overwritten")
    assert {name: path.read_bytes() for name, path in files.items()} == before


SAVE_WITH_WRITES_CUT_AT_64_KIB = (
    "import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); sys.argv = ['attn-detect', *sys.argv[1:]]; "
    "runpy.run_module('detect_cli', run_name='__main__')"
)


@pytest.mark.slow
def test_save_of_a_video_onto_a_full_disk_is_a_warning_and_exit_3(tmp_path: Path) -> None:
    """The run's writes fail past 64 KiB a file (RLIMIT_FSIZE), as on a full disk: the annotated video is
    cut short, which OpenCV's writer never reports. The records all come; the video is named as not saved."""
    import cv2
    import numpy as np

    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    noise = np.random.default_rng(0)
    for _ in range(30):
        writer.write(noise.integers(0, 255, (240, 320, 3), np.uint8))  # noise: it does not compress
    writer.release()
    args = [str(video), *MODEL, "--format", "jsonl", "--save", str(tmp_path / "saved")]
    proc = subprocess.run(
        [sys.executable, "-c", SAVE_WITH_WRITES_CUT_AT_64_KIB, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert proc.returncode == 3, proc.stderr
    assert [json.loads(line)["frame"] for line in proc.stdout.splitlines()] == list(range(30))
    said = " ".join(proc.stderr.split())
    assert "Not saved (1" in said and "clip.mp4 is cut short" in said, proc.stderr
    assert "Traceback" not in proc.stderr
