"""The guarded reader: regular files only, refused unopened otherwise; a size cap; a deadline."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from detect_cli.core import guarded_read
from detect_cli.core.guarded_read import UnreadableFile, open_stream, read_bytes, read_text


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.txt"
    os.mkfifo(path)
    return path


def _zero_link(tmp: Path) -> Path:
    link = tmp / "zero.txt"
    link.symlink_to("/dev/zero")
    return link


def _broken_link(tmp: Path) -> Path:
    link = tmp / "gone.txt"
    link.symlink_to(tmp / "missing")
    return link


REFUSED = [
    (_fifo, "not a regular file (FIFO)"),
    (_zero_link, "not a regular file (character device)"),
    (lambda tmp: tmp, "a folder, not a file"),
    (lambda tmp: tmp / "missing.txt", "no such file"),
    (_broken_link, "broken symbolic link (its target does not exist)"),
]


@pytest.mark.parametrize(("make", "reason"), REFUSED, ids=["fifo", "dev-zero-link", "folder", "missing", "broken"])
def test_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path: Path, make, reason: str) -> None:
    path = make(tmp_path)
    start = time.perf_counter()
    with pytest.raises(UnreadableFile) as refused:
        read_bytes(path, 1000)
    assert str(refused.value) == reason and not refused.value.os_error
    assert time.perf_counter() - start < 1.0


def test_a_file_over_the_cap_is_refused_from_its_size_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as fh:
        fh.truncate(50 * 2**20)  # sparse
    with pytest.raises(UnreadableFile, match=r"file is 50 MiB, over the 1 MiB limit"):
        read_bytes(path, 2**20)
    with pytest.raises(UnreadableFile, match="too big: 52428800 > 10"):
        read_bytes(path, 10, too_big=lambda size, limit: f"too big: {size} > {limit}")


def test_a_file_longer_than_its_size_says_is_cut_at_the_cap() -> None:
    """Files in /proc say 0 bytes; reading stops one byte past the cap, then refuses."""
    with pytest.raises(UnreadableFile, match="over the"):
        read_bytes("/proc/self/maps", 16)
    assert len(read_bytes("/proc/self/status", 1 << 20)) > 0


def test_the_head_is_checked_before_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"HEAD" + b"x" * 5000)
    seen: list[bytes] = []
    assert bytes(read_bytes(path, 10_000, check_head=seen.append, head_bytes=4)) == path.read_bytes()
    assert seen == [b"HEAD"]

    def refuse(head: bytes) -> None:
        raise ValueError(f"bad head {head!r}")

    with pytest.raises(ValueError, match="bad head b'HEAD'"):
        read_bytes(path, 10_000, check_head=refuse, head_bytes=4)


def test_the_deadline_ends_a_slow_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "slow.txt"
    path.write_bytes(b"x" * (3 * guarded_read.CHUNK_BYTES))
    clock = iter(range(0, 1000, 10))  # every look at the clock, 10 s later
    monkeypatch.setattr(guarded_read.time, "monotonic", lambda: next(clock))
    with pytest.raises(UnreadableFile, match=r"reading it took more than 5 s"):
        read_bytes(path, 10 * guarded_read.CHUNK_BYTES, deadline_s=5)


def test_text_is_utf8_with_a_bom_dropped_and_other_bytes_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffclasses: [é]\n".encode())
    assert read_text(path, 100) == "classes: [é]\n"
    path.write_bytes(b"ok\n\xff\xfe")
    with pytest.raises(UnreadableFile, match=r"not a UTF-8 text file \(byte 4"):
        read_text(path, 100)


def test_permission_errors_are_the_systems_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("x")

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(guarded_read.os, "open", denied)  # root reads anything: refuse as the kernel would
    with pytest.raises(UnreadableFile, match=r"^Permission denied$") as refused:
        read_bytes(path, 100)
    assert refused.value.os_error


def test_a_stream_may_be_a_pipe_that_waits_for_its_writer(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)

    def write_later() -> None:
        time.sleep(0.2)
        with open(fifo, "w") as fh:
            fh.write("a.jpg\nb.jpg\n")

    threading.Thread(target=write_later, daemon=True).start()
    with open_stream(fifo) as lines:
        assert lines.read() == "a.jpg\nb.jpg\n"


@pytest.mark.parametrize(("make", "reason"), REFUSED[1:], ids=["dev-zero-link", "folder", "missing", "broken"])
def test_a_stream_is_never_a_device_or_folder(tmp_path: Path, make, reason: str) -> None:
    with pytest.raises(UnreadableFile, match=reason.replace("(", r"\(").replace(")", r"\)")):
        open_stream(make(tmp_path))
