"""A local HLS playlist (.m3u8), checked before FFmpeg opens it.

FFmpeg's HLS demuxer follows a local playlist's entries as they come: one that lists itself (or a
loop of two) is re-read without end, its memory growing by the second, and a segment that is a FIFO
blocks the read for ever. So a local playlist is read here first, through the guarded reader, with
every entry it names (segments, `#EXT-X-MAP`/`#EXT-X-MEDIA` URIs, variant playlists, followed down
to `MAX_DEPTH` levels): each local one must be a regular file, no playlist may be reached twice on
one path, and the playlist itself must be one. Entries over http(s) are FFmpeg's to fetch (each read
has the stream timeout); other schemes are refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from detect_cli.core.guarded_read import UnreadableFile, read_text
from detect_cli.inputs.sources import file_problem

PLAYLIST_MAX_BYTES = 16 * 2**20
MAX_DEPTH = 4  # a master playlist, its variants, and room to spare
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_REMOTE = ("http://", "https://")


def playlist_problem(path: str) -> str | None:
    """Why the local playlist at `path` must not be opened (one line naming the entry), or None."""
    try:
        _check(Path(path), [], 0, set())
    except _Refused as refused:
        return str(refused)
    return None


class _Refused(Exception):
    pass


def _check(path: Path, chain: list[tuple[int, int]], depth: int, checked: set[tuple[int, int]]) -> None:
    try:
        text = read_text(path, PLAYLIST_MAX_BYTES)
        info = os.stat(path)
    except UnreadableFile as exc:
        raise _Refused(f"playlist {_name(path, depth)}: {exc}") from None
    identity = (info.st_dev, info.st_ino)
    if identity in checked:  # listed again, not in a loop: once is enough (a DAG stays linear)
        return
    if identity in chain:
        raise _Refused(
            f"playlist {_name(path, depth)} lists itself (directly or through another playlist): "
            "it would be read for ever"
        )
    if depth > MAX_DEPTH:
        raise _Refused(f"playlists nested more than {MAX_DEPTH} deep (at {path.name})")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#EXTM3U"):
        raise _Refused(f"playlist {_name(path, depth)}: not an HLS playlist (its first line is not #EXTM3U)")
    for entry in _entries(lines):
        _check_entry(path, entry, [*chain, identity], depth, checked)
    checked.add(identity)


def _entries(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        if line.startswith("#"):
            found.extend(_URI_ATTRIBUTE.findall(line))
        else:
            found.append(line)
    return found


def _check_entry(
    playlist: Path, entry: str, chain: list[tuple[int, int]], depth: int, checked: set[tuple[int, int]]
) -> None:
    lowered = entry.lower()
    if lowered.startswith(_REMOTE):
        return
    if lowered.startswith("file:"):
        entry = unquote(urlsplit(entry).path)
    elif "://" in entry or re.match(r"^[a-z][a-z0-9+.-]+:", lowered):
        raise _Refused(f"playlist {playlist.name} lists {_short(entry)}: only local files and http(s) URLs are read")
    target = Path(entry) if os.path.isabs(entry) else playlist.parent / entry
    problem = file_problem(target)
    if problem:
        raise _Refused(f"playlist {playlist.name} lists {_short(entry)}: {problem}")
    if target.suffix.lower() in {".m3u8", ".m3u"}:
        _check(target, chain, depth + 1, checked)


def _name(path: Path, depth: int) -> str:
    return path.name


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
