"""The one reader for every file we read whole: images, configs, label files, MOT files, playlists.

Every such file is hostile input. `read_bytes` and `read_text` open regular files only (a FIFO, a
device such as a link to /dev/zero, a socket or a folder is refused from its `stat`, and the file
is opened with O_NONBLOCK and checked again on the opened descriptor, so one swapped in between
cannot block the open either), refuse a file over a size cap before reading it (and stop at the
cap where `st_size` lies, as in /proc), and give up at a deadline while reading in chunks (a stuck
network file system). `open_stream` is for lists read line by line (`@list.txt`), which may also be
a pipe (`@<(find ...)`): those have no size cap, since they are streamed.

Failures are `UnreadableFile`, whose text is one line saying why (the caller names the file and
maps it to its own error type).
"""

from __future__ import annotations

import io
import os
import stat
import time
from collections.abc import Callable
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
HEAD_BYTES = 16  # what a caller's check of the first bytes is shown (files here, URL bodies in inputs/downloads)
DEFAULT_DEADLINE_S = 60.0  # for the read itself: a local disk reads a capped file in well under a second

HeadCheck = Callable[[bytes], None]  # sees the first bytes; raises to refuse the rest unread


class UnreadableFile(Exception):
    """A file that was not read, and why (one line, without the file's name). `os_error`: the
    reason is the system's ("Permission denied"), which callers may prefix with "cannot read"."""

    def __init__(self, reason: str, *, os_error: bool = False) -> None:
        super().__init__(reason)
        self.os_error = os_error


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def not_regular_message(mode: int) -> str | None:
    """The error for a path whose stat mode (symlinks followed) is not a regular file, else None."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "special file")
    return f"not a regular file ({kind})"


def size_text(size: float) -> str:
    """Bytes as `12 MiB`, `0.5 MiB`, `300 KiB` for messages."""
    if size >= 2**20 / 10:
        mib = size / 2**20
        return f"{mib:.0f} MiB" if mib >= 10 else f"{mib:.2g} MiB"
    return f"{size / 1024:.0f} KiB"


def read_bytes(
    path: str | os.PathLike[str],
    limit: int,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    check_head: HeadCheck | None = None,
    head_bytes: int = HEAD_BYTES,
    too_big: Callable[[int, int], str] | None = None,
) -> bytearray:
    """The whole file, at most `limit` bytes, read within `deadline_s`; else `UnreadableFile`.

    `check_head` sees the first `head_bytes` (fewer for a shorter file, b"" for an empty one) before
    the rest is read. `too_big(size, limit)` words the refusal of a file over `limit`."""
    start = time.monotonic()
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise UnreadableFile(_too_big(size, limit, too_big))
        head = b""
        if check_head is not None:  # before the buffer is made: a refused file costs no memory
            head = _read_chunk(fh, head_bytes)
            check_head(head)
        # one buffer of the declared size, filled in place: a 500 MB image is not held twice
        data, filled = bytearray(max(min(size, limit) + 1, len(head))), len(head)
        data[: len(head)] = head
        while filled <= limit:
            if filled == len(data):  # longer than st_size said: grow, up to the cap
                data.extend(bytes(min(max(len(data), CHUNK_BYTES), limit + 1 - len(data))))
            with memoryview(data) as view, view[filled : filled + CHUNK_BYTES] as window:
                got = _read_into(fh, window)
            if not got:
                break
            filled += got
            if time.monotonic() - start > deadline_s:
                raise UnreadableFile(f"reading it took more than {deadline_s:g} s (a slow or stuck file system?)")
    if filled > limit:  # st_size said less (files in /proc say 0)
        raise UnreadableFile(_too_big(filled, limit, too_big))
    del data[filled:]  # in place
    return data


def read_text(path: str | os.PathLike[str], limit: int, *, deadline_s: float = DEFAULT_DEADLINE_S) -> str:
    """`read_bytes`, decoded as UTF-8 (a leading BOM, as Windows editors write, dropped)."""
    data = read_bytes(path, limit, deadline_s=deadline_s)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not a UTF-8 text file (byte {exc.start + 1} is not UTF-8)") from None


def open_stream(path: str | os.PathLike[str]) -> io.TextIOWrapper:
    """A text list to read line by line: a regular file or a pipe (which may wait for its writer, as a
    pipe should); a folder, device or socket is refused unopened. UTF-8, undecodable bytes replaced."""
    mode = _stat_mode(path)
    if not stat.S_ISFIFO(mode):
        _refuse_irregular(mode)
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise _os_error(exc) from None


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """The file opened for reading if it is a regular file (checked before and after a non-blocking
    open), else `UnreadableFile`: a FIFO or a device never blocks the caller."""
    _refuse_irregular(_stat_mode(path))
    try:
        # O_NONBLOCK: were a FIFO swapped in after the check, opening it must still not block
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_error(exc) from None
    fh = open(fd, "rb")
    try:
        _refuse_irregular(os.fstat(fd).st_mode)
    except BaseException:
        fh.close()
        raise
    return fh


def _stat_mode(path: str | os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        broken = os.path.islink(path)
        raise UnreadableFile("broken symbolic link (its target does not exist)" if broken else "no such file") from None
    except OSError as exc:
        raise _os_error(exc) from None
    except ValueError as exc:  # a NUL byte in the name
        raise UnreadableFile(str(exc)) from None


def _refuse_irregular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise UnreadableFile("a folder, not a file")
    problem = not_regular_message(mode)
    if problem:
        raise UnreadableFile(problem)


def _read_chunk(fh: BinaryIO, size: int) -> bytes:
    try:
        return fh.read(size) or b""
    except OSError as exc:
        raise _os_error(exc) from None


def _read_into(fh: BinaryIO, window: memoryview) -> int:
    try:
        return fh.readinto(window) or 0
    except OSError as exc:
        raise _os_error(exc) from None


def _os_error(exc: OSError) -> UnreadableFile:
    return UnreadableFile(str(exc.strerror or exc), os_error=True)


def _too_big(size: int, limit: int, words: Callable[[int, int], str] | None) -> str:
    if words is not None:
        return words(size, limit)
    return f"file is {size_text(size)}, over the {size_text(limit)} limit for this kind of file"
