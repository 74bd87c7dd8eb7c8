"""Edit the atoms of the small MP4s that OpenCV writes, to make the videos a camera or a broken
download gives: moov moved first (faststart, then cut after the mdat header), or frames of uneven
lengths (a variable frame rate). Only what these tests need: 32-bit atom sizes, one video track."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _atoms(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[int, int, bytes]]:
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        yield i, size, kind
        i += size


def _top(data: bytes | bytearray) -> dict[bytes, tuple[int, int]]:
    return {kind: (i, size) for i, size, kind in _atoms(data, 0, len(data))}


def faststart_cut_after_mdat_header(src: Path, dst: Path) -> Path:
    """`src` with moov before mdat (chunk offsets shifted), cut right after mdat's 8-byte header:
    the index is whole and says how many frames there are; their data never came."""
    data = bytearray(src.read_bytes())
    top = _top(data)
    moov_at, moov_size = top[b"moov"]
    moov = bytearray(data[moov_at : moov_at + moov_size])

    def shift(buf: bytearray, start: int, end: int) -> None:
        for i, size, kind in _atoms(buf, start, end):
            if kind in CONTAINERS:
                shift(buf, i + 8, i + size)
            elif kind == b"stco":
                for j in range(struct.unpack(">I", buf[i + 12 : i + 16])[0]):
                    at = i + 16 + 4 * j
                    buf[at : at + 4] = struct.pack(">I", struct.unpack(">I", buf[at : at + 4])[0] + moov_size)

    shift(moov, 8, moov_size)
    rest = data[:moov_at] + data[moov_at + moov_size :]
    ftyp_at, ftyp_size = top[b"ftyp"]
    moved = rest[: ftyp_at + ftyp_size] + moov + rest[ftyp_at + ftyp_size :]
    dst.write_bytes(moved[: moved.find(b"mdat") + 4])
    return dst


def with_frame_durations(src: Path, dst: Path, durations: list[int]) -> Path:
    """`src` whose frame k lasts `durations[k]` ticks of the track's timescale (their sum should be
    the original's, so the track's duration stays true)."""
    data = bytearray(src.read_bytes())
    moov_at, _ = _top(data)[b"moov"]
    assert moov_at > _top(data)[b"mdat"][0], "moov after mdat: chunk offsets stay valid"

    def find(start: int, end: int, parents: list[int]) -> tuple[list[int], int, int] | None:
        for i, size, kind in _atoms(data, start, end):
            if kind in CONTAINERS and (found := find(i + 8, i + size, [*parents, i])):
                return found
            if kind == b"stts":
                return parents, i, size
        return None

    found = find(0, len(data), [])
    assert found is not None
    parents, at, size = found
    entries = b"".join(struct.pack(">II", 1, d) for d in durations)
    stts = struct.pack(">I4sII", 16 + len(entries), b"stts", 0, len(durations)) + entries
    for parent in parents:
        grown = struct.unpack(">I", data[parent : parent + 4])[0] + len(stts) - size
        data[parent : parent + 4] = struct.pack(">I", grown)
    data[at : at + size] = stts
    dst.write_bytes(data)
    return dst


def frame_ticks(path: Path) -> int:
    """The frames' (constant) duration in the track's timescale, as OpenCV wrote it."""
    data = path.read_bytes()
    stts = data.find(b"stts")
    return struct.unpack(">I", data[stts + 16 : stts + 20])[0]
