"""Local HLS playlists are checked before FFmpeg opens them: no loops, no FIFOs, local files or http(s) only."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.inputs.playlists import MAX_DEPTH, playlist_problem
from detect_cli.inputs.sources import Source
from detect_cli.inputs.video import read_frames

HEADER = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n"


def _segment(path: Path, frames: int = 10) -> Path:  # 1 s at 10 frames/s, as #EXTINF says
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 20 * k, np.uint8))
    writer.release()
    return path


def _media(path: Path, *entries: str) -> Path:
    path.write_text(HEADER + "".join(f"#EXTINF:1.0,\n{e}\n" for e in entries) + "#EXT-X-ENDLIST\n")
    return path


def _master(path: Path, *variants: str) -> Path:
    path.write_text("#EXTM3U\n" + "".join(f"#EXT-X-STREAM-INF:BANDWIDTH=1\n{v}\n" for v in variants))
    return path


def _fifo_segment(tmp: Path) -> Path:
    os.mkfifo(tmp / "live.ts")
    return _media(tmp / "p.m3u8", "live.ts")


def _fifo_init_segment(tmp: Path) -> Path:
    os.mkfifo(tmp / "i.mp4")
    (tmp / "p.m3u8").write_text(HEADER + '#EXT-X-MAP:URI="i.mp4"\n#EXTINF:1.0,\ns.ts\n')
    return tmp / "p.m3u8"


def _text(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _nested(tmp: Path) -> Path:
    for level in range(MAX_DEPTH + 2):
        _master(tmp / f"l{level}.m3u8", f"l{level + 1}.m3u8")
    return tmp / "l0.m3u8"


REFUSED = {
    "lists itself": (lambda t: _master(t / "p.m3u8", "p.m3u8"), "playlist p.m3u8 lists itself"),
    "a loop of two": (lambda t: (_master(t / "b.m3u8", "p.m3u8"), _master(t / "p.m3u8", "b.m3u8"))[1], "lists itself"),
    "itself by absolute path": (lambda t: _master(t / "p.m3u8", str(t / "p.m3u8")), "lists itself"),
    "a FIFO segment": (_fifo_segment, "playlist p.m3u8 lists live.ts: not a regular file (FIFO)"),
    "a FIFO init segment": (_fifo_init_segment, "lists i.mp4: not a regular file"),
    "a device segment": (lambda t: _media(t / "p.m3u8", "/dev/zero"), "lists /dev/zero: not a regular file (character"),
    "a missing segment": (lambda t: _media(t / "p.m3u8", "gone.ts"), "lists gone.ts: no such file"),
    "an ftp segment": (lambda t: _media(t / "p.m3u8", "ftp://host/s.ts"), "only local files and http(s) URLs"),
    "nested too deep": (_nested, f"playlists nested more than {MAX_DEPTH} deep"),
    "not a playlist": (lambda t: _text(t / "p.m3u8", b"seg.ts\n"), "its first line is not"),
    "binary": (lambda t: _text(t / "p.m3u8", b"\xff\xfe\x00"), "not a UTF-8 text file"),
}


@pytest.mark.parametrize("name", list(REFUSED), ids=list(REFUSED))
def test_a_playlist_that_would_loop_or_block_is_one_error_record(tmp_path: Path, name: str) -> None:
    make, message = REFUSED[name]
    playlist = make(tmp_path)
    start = time.perf_counter()
    frames = list(read_frames(Source(str(playlist), playlist.name)))
    assert len(frames) == 1 and frames[0].pixels is None and frames[0].error is not None
    assert message in frames[0].error
    assert time.perf_counter() - start < 2.0


def test_a_good_local_playlist_plays(tmp_path: Path) -> None:
    _segment(tmp_path / "s0.ts")
    _segment(tmp_path / "s1.ts")
    playlist = _master(tmp_path / "master.m3u8", "media.m3u8", "media.m3u8")  # one variant listed twice: no loop
    _media(tmp_path / "media.m3u8", "s0.ts", "s1.ts", "http://127.0.0.1:9/never-fetched.ts")
    assert playlist_problem(str(playlist)) is None
    _media(tmp_path / "local.m3u8", "s0.ts", "s1.ts")
    frames = list(read_frames(Source(str(tmp_path / "local.m3u8"), "local.m3u8")))
    assert len(frames) == 20 and all(f.error is None for f in frames)
