"""Hostile inputs through the whole CLI: each is one record for that input, the rest goes on, nothing hangs.

One table: every row builds one hostile input (a file, a path, a URL on the local server that misbehaves
on purpose) next to one good image, and names the exit code and the record that input must give. Then
Ctrl-C, in a real process, while the run is stuck on a FIFO or on a server that drips bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES, any_speed_gain
from tests.helpers import write_jpeg
from tests.http_server import PHOTO_PATH, wait_for_request

GOOD = str(SAMPLES / "bus.jpg")
MODEL = ["--model", "yolo26n.yaml", "--imgsz", "64", "--conf", "0.0", "--max-det", "3", "--threads", "1"]
URL_TIMEOUT_S = 1.5
runner = CliRunner()


class Inputs:
    """What a row's factory may use: a scratch folder, the local server, monkeypatch, FIFOs with a guard."""

    def __init__(self, tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp, self.server, self.monkeypatch = tmp_path, server, monkeypatch
        self.stop = threading.Event()

    def fifo(self, path: Path) -> Path:
        """A FIFO no one writes to. Should the run open it for reading (the bug), a guard opens it for
        writing after a while, so that the test fails on the record instead of hanging for ever."""
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        threading.Thread(target=self._release_readers, args=(path,), daemon=True).start()
        return path

    def _release_readers(self, path: Path) -> None:
        while not self.stop.wait(3.0):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # succeeds only while a reader waits
            except OSError:
                pass

    def folder(self, *files: str) -> Path:
        root = self.tmp / "in"
        root.mkdir(exist_ok=True)
        for name in files:
            if name.endswith(".jpg"):
                write_jpeg(root / name)
            else:
                (root / name).write_text("hello")
        return root


@pytest.fixture
def inputs(tmp_path: Path, http_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inputs]:
    made = Inputs(tmp_path, http_server, monkeypatch)
    yield made
    made.stop.set()


def _fifo_in_folder(i: Inputs) -> list[str]:
    root = i.folder("a.jpg")
    i.fifo(root / "b.jpg")
    return [str(root)]


def _fifo_in_glob(i: Inputs) -> list[str]:
    root = i.folder("a.jpg")
    i.fifo(root / "b.jpg")
    return [str(root / "*.jpg")]


def _device_symlink(i: Inputs) -> list[str]:
    root = i.folder("a.jpg")
    (root / "zero.jpg").symlink_to("/dev/zero")
    return [str(root)]


def _unreadable_folder(i: Inputs) -> list[str]:
    root = i.folder("a.jpg")
    real = os.scandir
    # chmod 000 does not stop root (who runs these tests here): refuse the listing as the kernel would
    i.monkeypatch.setattr(os, "scandir", lambda p: _denied(p) if Path(p) == root else real(p))
    return [str(root)]


def _denied(path: object) -> Iterator[os.DirEntry[str]]:
    raise PermissionError(13, "Permission denied", str(path))


def _sparse(i: Inputs, name: str, size: int, head: bytes) -> list[str]:
    path = i.tmp / name
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)  # a hole: takes no disk, but reading it whole would take `size` bytes of memory
    return [str(path)]


def _frames(i: Inputs, name: str, fmt: str, count: int, **kwargs: object) -> list[str]:
    from PIL import Image

    frames = [Image.new("RGB", (64, 48), (20 * k, 0, 0)) for k in range(count)]
    path = i.tmp / name
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], **kwargs)
    return [str(path)]


def _write(i: Inputs, name: str, data: bytes) -> list[str]:
    (i.tmp / name).write_bytes(data)
    return [str(i.tmp / name)]


def _playlist(i: Inputs, body: str, fifo: str | None = None) -> list[str]:
    if fifo:
        i.fifo(i.tmp / fifo)
    (i.tmp / "live.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n" + body)
    return [str(i.tmp / "live.m3u8")]


def _cut_video(i: Inputs, frames: int) -> str:
    """A faststart MP4 cut right after its mdat header: it opens, its index says how many frames; none came."""
    from tests.mp4_edit import faststart_cut_after_mdat_header

    return str(faststart_cut_after_mdat_header(Path(_video(i, "whole.mp4", frames)), i.tmp / "cut.mp4"))


def _not_utf8(i: Inputs) -> str:
    root = i.folder()
    write_jpeg(Path(os.fsdecode(os.path.join(os.fsencode(root), b"b\xff.jpg"))))
    return str(root)


Row = tuple[Callable[[Inputs], list[str]], int, str, str]
TABLE: dict[str, Row] = {
    # URLs: malformed, or a server that breaks HTTP
    "url-unclosed-ipv6": (lambda i: ["http://[::1/x.jpg"], 3, "error", "invalid URL: Invalid IPv6 URL"),
    "url-port-not-a-number": (lambda i: ["http://127.0.0.1:abc/x.jpg"], 3, "error", "invalid URL: Port"),
    "video-url-unclosed-ipv6": (lambda i: ["http://[::1/x.mp4"], 3, "error", "invalid URL: Invalid IPv6 URL"),
    "stream-unclosed-ipv6": (lambda i: ["rtsp://[::1/live"], 3, "error", "invalid URL: Invalid IPv6 URL"),
    "stream-port-out-of-range": (lambda i: ["rtsp://127.0.0.1:99999/live"], 3, "error", "invalid URL: Port"),
    "webcam-not-a-number": (lambda i: ["webcam:x"], 3, "error", "webcam index must be a number"),
    "webcam-past-int32": (lambda i: ["webcam:2147483648"], 3, "error", "webcam index 2147483648 is out of range"),
    "url-bad-chunked-body": (lambda i: [i.server + "/bad-chunked"], 3, "error", "bad HTTP response"),
    "url-bad-status-line": (lambda i: [i.server + "/bad-status"], 3, "error", "BadStatusLine"),
    "url-too-many-headers": (lambda i: [i.server + "/many-headers"], 3, "error", "more than 100 headers"),
    "url-body-shorter-than-length": (lambda i: [i.server + "/short"], 3, "error", "truncated download"),
    "url-redirect-to-ftp": (lambda i: [i.server + "/to-ftp"], 3, "error", "refused a redirect to ftp://"),
    "url-redirect-to-file": (lambda i: [i.server + "/to-file"], 3, "error", "refused a redirect to file://"),
    "url-drips-bytes": (lambda i: [i.server + "/drip"], 3, "error", f"timed out after {URL_TIMEOUT_S:g} s"),
    "url-drips-headers": (lambda i: [i.server + "/drip-headers"], 3, "error", f"timed out after {URL_TIMEOUT_S:g} s"),
    "url-redirect-to-http": (lambda i: [i.server + "/redirect"], 0, "ok", ""),
    # paths that are not image files
    "fifo-in-folder": (_fifo_in_folder, 3, "error", "not a regular file (FIFO)"),
    "fifo-in-glob": (_fifo_in_glob, 3, "error", "not a regular file (FIFO)"),
    "fifo-named": (lambda i: [str(i.fifo(i.tmp / "named.jpg"))], 3, "error", "not a regular file (FIFO)"),
    "symlink-to-dev-zero": (_device_symlink, 3, "error", "not a regular file (character device)"),
    "unreadable-folder": (_unreadable_folder, 3, "error", "cannot list folder: Permission denied"),
    "empty-argument": (lambda i: [""], 3, "error", "empty source argument"),
    "folder-without-images": (lambda i: [str(i.folder("notes.txt"))], 3, "error", "no image files in this folder"),
    "glob-matching-nothing": (lambda i: [str(i.folder() / "*.png")], 3, "error", "no image files match"),
    "list-file-dev-zero": (lambda i: ["@/dev/zero"], 3, "error", "list file: not a regular file (character"),
    "list-file-folder": (lambda i: [f"@{i.folder()}"], 3, "error", "cannot read list file: a folder, not a file"),
    # local playlists (FFmpeg would follow a loop for ever, or block on a FIFO) and videos with no frame
    "playlist-lists-itself": (
        lambda i: _playlist(i, "#EXT-X-STREAM-INF:BANDWIDTH=1\nlive.m3u8\n"),
        3,
        "error",
        "playlist live.m3u8 lists itself",
    ),
    "playlist-fifo-segment": (
        lambda i: _playlist(i, "#EXTINF:1.0,\nseg.ts\n", fifo="seg.ts"),
        3,
        "error",
        "lists seg.ts: not a regular file (FIFO)",
    ),
    "mp4-cut-after-mdat-header": (lambda i: [_cut_video(i, 1)], 3, "error", "no frame could be decoded"),
    # files that would cost memory or time before saying "no"
    "2-GiB-non-image": (lambda i: _sparse(i, "movie.jpg", 2 * 2**30, b"\0\0\0\x18ftyp"), 3, "error", "MiB, more than"),
    "600-MiB-non-image": (lambda i: _sparse(i, "disk.jpg", 600 * 2**20, b"\0" * 16), 3, "error", "not an image"),
    "text-named-jpg": (lambda i: _write(i, "notes.jpg", b"hello, I am text\n" * 10), 3, "error", "not an image"),
    "file-name-not-utf8": (lambda i: [_not_utf8(i)], 0, "ok", ""),  # exited 1 with no record at all
    # processed, with a note
    "animated-gif": (lambda i: _frames(i, "a.gif", "GIF", 12, duration=40), 0, "ok", "animated GIF with 12 frames"),
    "multi-page-tiff": (lambda i: _frames(i, "p.tif", "TIFF", 3), 0, "ok", "multi-page TIFF with 3 pages"),
}


@pytest.mark.parametrize("row", list(TABLE), ids=list(TABLE))
def test_one_hostile_input_is_one_record_and_the_rest_goes_on(inputs: Inputs, row: str) -> None:
    make, code, status, text = TABLE[row]
    config = inputs.tmp / "c.yaml"
    config.write_text(f"url_timeout: {URL_TIMEOUT_S}\n")
    hostile = make(inputs)
    start = time.perf_counter()
    result = runner.invoke(app, [GOOD, *hostile, *MODEL, "--config", str(config), "--format", "jsonl"])
    elapsed = time.perf_counter() - start
    assert result.exit_code == code, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["source"] == GOOD and records[0]["status"] == "ok"  # the good image before it went through
    said = [" ".join([r["error"] or "", *r["warnings"]]) for r in records]
    matching = [r for r, words in zip(records[1:], said[1:], strict=True) if r["status"] == status and text in words]
    assert len(matching) == 1, records
    assert all(r["status"] == "ok" for r in records if r is not matching[0])  # nothing else failed with it
    assert "Traceback" not in result.stderr
    assert elapsed < 20 + URL_TIMEOUT_S  # nothing hung (the first row also builds the model)


# --- Ctrl-C in a real process ------------------------------------------------------------------------------


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "detect_cli", *args, *MODEL, "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        preexec_fn=_sigint_default,
    )


def _sigint_default() -> None:
    """In the child, before it runs: Ctrl-C as a terminal gives it. A shell that starts its jobs with
    SIGINT ignored (a background job, nohup, some CI runners) would pass that on, and Python keeps an
    ignored SIGINT ignored: the test would test the shell, not the tool."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, float, str, str]:
    """Send SIGINT; (exit code, seconds until it exited, stdout, stderr)."""
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, time.perf_counter() - sent, out, err


def test_ctrl_c_ends_a_run_stuck_on_a_dripping_server(http_server: str, tmp_path: Path) -> None:
    """The read-ahead thread is inside a download that will take a minute: Ctrl-C ends the run at once."""
    (tmp_path / "c.yaml").write_text("url_timeout: 120\n")
    proc = _start([http_server + PHOTO_PATH, http_server + "/drip", "--config", str(tmp_path / "c.yaml")], tmp_path)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]  # the photo's record: the run is under way
        assert first, proc.stderr.read()  # type: ignore[union-attr]
        assert json.loads(first)["status"] == "ok"
        assert wait_for_request("/drip", 60)
        time.sleep(0.5)  # into the drip
    except BaseException:
        proc.kill()
        raise
    code, seconds, out, err = _interrupt(proc)
    assert code == 130, err
    assert seconds < 2.0
    assert "interrupted" in err and "Traceback" not in err
    assert out == ""  # the finished record came out before; nothing half-written after it


def test_ctrl_c_ends_a_run_stuck_on_a_fifo(tmp_path: Path) -> None:
    """A list file that is a FIFO (as `@<(find ...)` gives) whose writer never writes: Ctrl-C still works."""
    fifo = tmp_path / "list.txt"
    os.mkfifo(fifo)
    proc = _start([f"@{fifo}"], tmp_path)
    writer = None
    try:
        deadline = time.monotonic() + 120
        while writer is None:  # opening for writing succeeds once the run has opened the FIFO to read it
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.05)
        time.sleep(0.5)  # blocked reading the list
        code, seconds, out, err = _interrupt(proc)
        assert out == ""  # no image was listed, so no record
    finally:
        proc.kill()
        if writer is not None:
            os.close(writer)
    assert code == 130, err
    assert seconds < 2.0
    assert "interrupted" in err and "Traceback" not in err


# --- Refused before any model loads ------------------------------------------------------------------------
# A hostile file the run must read whole (a config, labels, MOT ground truth) or a number on the command line
# is checked before the model loads: exit 2, one line naming it, nothing on stdout (no cut JSON document).


def _sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def _laughs(levels: int) -> str:
    text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for n in range(1, levels):
        text += f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]\n"
    return text + f"classes: *a{levels - 1}\n"


def _config(i: Inputs, text: str | bytes) -> list[str]:
    path = i.tmp / "c.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return [GOOD, "--config", str(path)]


def _config_path(path: Path) -> list[str]:
    return [GOOD, "--config", str(path)]


def _link(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


def _zero_link(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def _labels(i: Inputs, make: Callable[[Path], None]) -> list[str]:
    folder = i.tmp / "labels"
    folder.mkdir()
    (folder / "good.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    make(folder)
    return ["evaluate", GOOD, "--labels", str(folder), "--format", "json"]


def _coco_labels(i: Inputs, box: list[float]) -> str:
    path = i.tmp / "coco.json"
    image = {"id": 1, "file_name": "bus.jpg", "width": 810, "height": 1080}
    annotation = {"id": 1, "image_id": 1, "category_id": 0, "bbox": box, "iscrowd": 0}
    doc = {"images": [image], "annotations": [annotation], "categories": [{"id": 0, "name": "person"}]}
    path.write_text(json.dumps(doc))
    return str(path)


def _tracks(i: Inputs, make: Callable[[Path], object]) -> list[str]:
    path = i.tmp / "gt.txt"
    make(path)
    return ["evaluate", GOOD, "--tracks", str(path), "--format", "json"]


def _crowded_frame(path: Path) -> None:
    path.write_text("".join(f"1,{n},{n % 1000},{n // 1000},5,5,1,1,1\n" for n in range(200_000)))


def _video(i: Inputs, name: str = "clip.mp4", frames: int = 3) -> str:
    import cv2
    import numpy as np

    path = i.tmp / name
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 40 * k, np.uint8))
    writer.release()
    return str(path)


Refusal = tuple[Callable[[Inputs], list[str]], str]
BEFORE_THE_MODEL: dict[str, Refusal] = {
    # --config: regular files only, small, valid and bounded YAML
    "config-fifo": (lambda i: _config_path(i.fifo(i.tmp / "c.yaml")), "c.yaml: not a regular file (FIFO)"),
    "config-dev-zero": (lambda i: _config_path(_zero_link(i.tmp / "c.yaml")), "c.yaml: not a regular file (char"),
    "config-folder": (lambda i: _config_path(i.folder()), "in: a folder, not a file"),
    "config-43-MB": (lambda i: _config_path(_sparse_file(i.tmp / "c.yaml", 43 * 10**6)), "c.yaml: file is 41 MiB"),
    "config-billion-laughs": (lambda i: _config(i, _laughs(9)), "c.yaml is not valid YAML: its aliases expand"),
    "config-billion-laughs+1": (lambda i: _config(i, _laughs(10)), "c.yaml is not valid YAML: its aliases expand"),
    "config-nested-10000": (lambda i: _config(i, "classes: " + "[" * 10_000 + "]" * 10_000), "nested too deeply"),
    "config-raw-bytes": (lambda i: _config(i, bytes(range(256)) * 4), "c.yaml is not valid YAML"),
    "config-itself-inside": (lambda i: _config(i, "classes: &a [x, *a]\n"), "c.yaml is not valid YAML: an alias"),
    # --labels (YOLO folder): every file checked first
    "labels-bad-line": (
        lambda i: _labels(i, lambda f: (f / "bus.txt").write_text("zz\n")),
        "bus.txt: line 1: expected numbers",
    ),
    "labels-fifo": (lambda i: _labels(i, lambda f: i.fifo(f / "bus.txt")), "bus.txt: not a regular file (FIFO)"),
    "labels-dev-zero": (lambda i: _labels(i, lambda f: _zero_link(f / "bus.txt")), "bus.txt: not a regular file"),
    "labels-coco-box-1e308": (  # accepted, then evaluate --save drew its outline dash by dash: killed after 300 s
        lambda i: ["evaluate", GOOD, "--labels", _coco_labels(i, [1, 1, 1e308, 1e308]), "--save", str(i.tmp / "s")],
        "coco.json: annotation #1 (id 1): bbox [1, 1, 1e+308, 1e+308] reaches past 1,000,000 pixels",
    ),
    # evaluate --tracks: the MOT file checked row by row, bounded
    "tracks-fifo": (lambda i: _tracks(i, i.fifo), "gt.txt: not a regular file (FIFO)"),
    "tracks-dev-zero": (lambda i: _tracks(i, _zero_link), "gt.txt: not a regular file (character device)"),
    "tracks-600-MB": (lambda i: _tracks(i, lambda p: _sparse_file(p, 600 * 2**20)), "gt.txt: file is 600 MiB"),
    "tracks-empty": (lambda i: _tracks(i, lambda p: p.write_text("")), "gt.txt has no rows"),
    "tracks-text-line": (
        lambda i: _tracks(i, lambda p: p.write_text("1,1,1,1,5,5\nframe,id\n")),
        "gt.txt:2: expected at least 6 values",
    ),
    "tracks-nan-size": (lambda i: _tracks(i, lambda p: p.write_text("1,1,1,1,nan,5\n")), "gt.txt:1: values must be"),
    "tracks-negative-size": (
        lambda i: _tracks(i, lambda p: p.write_text("1,1,1,1,5,-5\n")),
        "gt.txt:1: width and height must not be negative",
    ),
    "tracks-frame-0": (lambda i: _tracks(i, lambda p: p.write_text("0,1,1,1,5,5\n")), "gt.txt:1: the frame must"),
    "tracks-frame--5": (lambda i: _tracks(i, lambda p: p.write_text("-5,1,1,1,5,5\n")), "gt.txt:1: the frame must"),
    "tracks-frame-1.5": (lambda i: _tracks(i, lambda p: p.write_text("1.5,1,1,1,5,5\n")), "gt.txt:1: the frame must"),
    "tracks-200k-ids-in-a-frame": (lambda i: _tracks(i, _crowded_frame), "gt.txt: frame 1 has 200000 boxes"),
    # numbers on the command line
    "end-inf": (lambda i: [_video(i), "--end", "inf"], "Invalid value for '--end': inf is not a time"),
    "start-inf": (lambda i: [_video(i), "--start", "inf"], "Invalid value for '--start': inf is not a time"),
    "start-1e308": (lambda i: [_video(i), "--start", "1e308"], "1e+308 is not a time in a video"),
    "start-nan": (lambda i: [_video(i), "--start", "nan"], "nan is not a time in a video"),
    "end-0-alone": (lambda i: [_video(i), "--end", "0"], "--end 0 is not after --start 0"),
    "attention-end-inf": (lambda i: ["attention", _video(i), "--end", "inf"], "inf is not a time in a video"),
    "attention-end-0": (lambda i: ["attention", _video(i), "--end", "0"], "--end 0 is not after --start 0"),
    # a flag that would do nothing in this run
    "calibration-without-int8": (
        lambda i: [GOOD, "--calibration", str(i.tmp)],
        "is for --precision int8, and this run is fp32",
    ),
    # flags that the inputs make impossible
    "mot-two-videos": (
        lambda i: [_video(i, "a.mp4"), _video(i, "b.mp4"), "--format", "mot"],
        "b.mp4 starts a second (after",
    ),
    "count-line-of-zero-length": (
        lambda i: [_video(i), "--count-line", "32,24,50%,50%"],
        "--count-line is 32,24,32,24 in this 64x48 video's pixels: shorter than a pixel",
    ),
    "count-line-outside": (
        lambda i: [_video(i), "--count-line", "100,100,200,200"],
        "--count-line 100,100,200,200 lies wholly outside this video's 64x48 frame",
    ),
    "count-line-1e308": (  # finite, so it passed, and crashed mid-run (NaN to integer)
        lambda i: [_video(i), "--count-line", "0,0,1e308,1e308"],
        "--count-line 0,0,1e308,1e308: coordinate 1e+308 is out of range",
    ),
    "heatmap-classes-without-heatmap": (  # was silently ignored
        lambda i: [GOOD, "--heatmap-classes", "person"],
        "--heatmap-classes person: chooses --heatmap's maps, and --heatmap is not given",
    ),
    # --out that could only fail (or surprise) once results come
    "out-dash-yolo": (lambda i: [GOOD, "--format", "yolo", "--out", "-"], "--out -: a dataset is a folder of files"),
    "out-dash-jsonl": (lambda i: [GOOD, "--format", "jsonl", "--out", "-"], "--out -: it would be a file named '-'"),
    "out-dangling-link-yolo": (
        lambda i: [GOOD, "--format", "yolo", "--out", str(_link(i.tmp / "ds", "nowhere"))],
        "ds: a link to nowhere, which does not exist",
    ),
    "out-dangling-link-jsonl": (
        lambda i: [GOOD, "--out", str(_link(i.tmp / "r.jsonl", "no/such/r.jsonl"))],
        "r.jsonl: a link to no/such/r.jsonl, whose folder",
    ),
    "evaluate-out-dangling-link": (
        lambda i: [*_labels(i, lambda f: None), "--out", str(_link(i.tmp / "e.json", "gone/e.json"))],
        "e.json: a link to gone/e.json, whose folder",
    ),
    "zone-1e308": (lambda i: [GOOD, "--zone", "z=0,0,1e308,0,1e308,1e308"], "--zone z: coordinate 1e+308 is out"),
    "zone-20000-points-in-config": (  # was still parsing after 120 s
        lambda i: _config(i, "zones: ['big=" + ",".join(f"{k},{k % 7}" for k in range(20_000)) + "']\n"),
        "big: has 20000 points, more than 1000",
    ),
}


@pytest.mark.parametrize("row", list(BEFORE_THE_MODEL), ids=list(BEFORE_THE_MODEL))
def test_a_hostile_file_or_number_is_refused_before_the_model_loads(inputs: Inputs, row: str) -> None:
    from detect_cli.cli.commands import attention, compare, detect, evaluate

    for command in (attention, compare, detect, evaluate):
        inputs.monkeypatch.setattr(command, "open_detector", _no_model_expected)
    make, message = BEFORE_THE_MODEL[row]
    args = make(inputs)
    start = time.perf_counter()
    result = runner.invoke(app, [*args, *MODEL])
    elapsed = time.perf_counter() - start
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""  # no half-written document
    said = " ".join(result.stderr.split())  # typer's own errors come in a box
    assert said.count(message) == 1, result.stderr  # said once
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    assert elapsed < 20  # refused fast: no bomb expanded, no FIFO waited on, no 600 MB read (imports included)


def _no_model_expected(*args: object, **kwargs: object) -> None:
    raise AssertionError("the model was loaded before the hostile input was refused")


# --- the runtime cache: a broken or hostile cache is never an error ------------------------------------------


def _cache_is_a_file(cache: Path) -> None:
    cache.write_text("mine")


def _backends_is_a_file(cache: Path) -> None:
    cache.mkdir()
    (cache / "backends").write_text("mine")


def _read_only(cache: Path) -> None:
    cache.mkdir()
    cache.chmod(0o555)


CACHE_TABLE: dict[str, tuple[Callable[[Path], None] | str, str]] = {
    "cache-dir-dev-null": ("/dev/null", "runtime cache unusable (/dev/null/backends: Not a directory)"),
    "cache-dir-a-file": (_cache_is_a_file, "runtime cache unusable"),
    "backends-a-file": (_backends_is_a_file, "runtime cache unusable"),
    "cache-dir-read-only": (_read_only, "runtime cache unusable"),
}


@pytest.mark.parametrize("row", list(CACHE_TABLE), ids=list(CACHE_TABLE))
def test_a_cache_that_cannot_be_used_runs_pytorch_and_says_why(
    row: str, tmp_path: Path, checkpoints: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, reason = CACHE_TABLE[row]
    if row == "cache-dir-read-only" and os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder (tests/models/test_runtime_cache.py fakes EROFS instead)")
    cache = tmp_path / "cache"
    if isinstance(make, str):
        cache = Path(make)
    else:
        make(cache)
    monkeypatch.setenv("ATTN_DETECT_CACHE_DIR", str(cache))
    monkeypatch.delenv("ATTN_DETECT_BACKEND")
    result = runner.invoke(
        app, [GOOD, "--model", str(checkpoints["yolo"]), "--imgsz", "64", "--threads", "1", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["model"]["backend"]["name"] == "torch" and reason in doc["model"]["backend"]["reason"]
    assert doc["images"][0]["status"] == "ok" and "Traceback" not in result.stderr


def test_a_decision_that_is_a_folder_is_rebuilt_with_a_note(demo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo model's verified entry (conftest: random weights find too few boxes to verify, and such a
    check is not cached), its decision.json made a folder; rebuilt at any speed (speed is not the subject)."""
    any_speed_gain(monkeypatch)
    monkeypatch.delenv("ATTN_DETECT_BACKEND")
    args = [str(SAMPLES / "shapes" / "shape_00003.jpg"), "--model", "demo", "--format", "json"]
    assert runner.invoke(app, args).exit_code == 0
    (entry,) = (p for p in (demo_cache / "backends").iterdir() if not p.name.startswith("."))
    (entry / "decision.json").unlink()
    (entry / "decision.json").mkdir()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "is not the one verified (decision.json is not a regular file): rebuilding it" in result.stderr
    assert json.loads(result.stdout)["model"]["backend"]["name"] == "openvino"  # checked again, and kept
    assert (entry / "decision.json").is_file()


def test_a_bad_backend_in_the_environment_is_not_read_when_the_flag_is_given(
    monkeypatch: pytest.MonkeyPatch, checkpoints: dict
) -> None:
    monkeypatch.setenv("ATTN_DETECT_BACKEND", "tensorrt")
    args = [GOOD, "--model", str(checkpoints["yolo"]), "--imgsz", "64", "--threads", "1", "--format", "json"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "$ATTN_DETECT_BACKEND" in refused.stderr
    given = runner.invoke(app, [*args, "--backend", "torch"])
    assert given.exit_code == 0, given.stderr
    assert json.loads(given.stdout)["model"]["backend"]["name"] == "torch"
