"""The runtime cache read as untrusted input: paths kept inside their entry, files checked by SHA-256.

Whoever can write to the cache could otherwise choose the model that runs (an `.xml`/`.bin` copied
over the cached ones, a `path` of `../<other key>/...` or `/elsewhere`). So every file an entry runs
is recorded with its digest when the entry is made and checked before it runs; a path that leaves
its entry, through `..`, an absolute path or a symbolic link, is refused.

Hashing a large file on every run would cost what the cache saves, so digests are memoised by the
file's identity and times: device, inode, size, mtime and ctime. ctime cannot be set by a user: new
bytes written into the same file with its mtime put back still change it, so the file is hashed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

MAX_JSON_BYTES = 1 << 20  # a decision or memo is a few hundred bytes: anything larger is not ours
MEMO_ENTRIES = 256


class EntryMismatch(Exception):
    """A cache entry differs from what was verified (or is not one of ours): rebuild it."""


def read_json(path: Path) -> Any:
    """A JSON document of ours: a regular file (not a link, FIFO or folder) of at most MAX_JSON_BYTES.
    Raises EntryMismatch for anything else, and FileNotFoundError when it is absent."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:  # a link (ELOOP), a folder opened for reading... : not a file of ours
        raise EntryMismatch(f"{path.name} is not a regular file ({exc.strerror or exc})") from None
    info = _regular(fd, path)
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > MAX_JSON_BYTES:
            raise EntryMismatch(f"{path.name} is too large to be a cache file ({info.st_size} bytes)")
        raw = fh.read(MAX_JSON_BYTES + 1)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EntryMismatch(f"{path.name} is not valid JSON") from None


def _regular(fd: int, path: Path) -> os.stat_result:
    """The open file's stat, or EntryMismatch (the descriptor closed) when it is not a regular file."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise EntryMismatch(f"{path.name} is not a regular file")
    return info


def write_json_atomic(path: Path, data: Any) -> None:
    """Write by rename, so a reader sees the old document or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent, ".tmp-")  # what a killed run left half-written here
    fd, tmp = tempfile.mkstemp(prefix=owned_prefix(".tmp-"), dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def inside(entry: Path, relative: object) -> Path:
    """`entry / relative`, refused (EntryMismatch) unless it is a plain relative path that stays in
    the entry: no absolute path, no `..`, and no symbolic link at any step from the entry down."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\x00" in relative:
        raise EntryMismatch(f"bad path in the cache entry: {relative!r}")
    parts = relative.split("/")
    if relative.startswith("/") or any(p in {"", ".", ".."} for p in parts):
        raise EntryMismatch(f"path {relative!r} leaves its cache entry")
    here = entry
    for part in ("", *parts):
        here = here / part if part else here
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            raise EntryMismatch(f"{relative} is missing from the cache entry") from None
        if stat.S_ISLNK(mode):
            raise EntryMismatch(f"{here.name} in the cache entry is a symbolic link")
    return here


def remove_entry(entry: Path) -> None:
    """Delete a cache entry (a link planted in its place is unlinked, never followed)."""
    if not os.path.lexists(entry):
        return
    if os.path.islink(entry) or not os.path.isdir(entry):
        os.unlink(entry)
        return
    import shutil

    shutil.rmtree(entry)


def publish(staged: Path, final: Path) -> None:
    """Move a made export into the cache by rename; if a concurrent run got there first, keep theirs
    (same key, same model): a folder in use is never replaced under a running process."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        staged.rename(final)
    except OSError:
        if not final.is_dir():
            raise


STALE_AFTER_S = 15 * 60  # a temp folder of ours this old, whose process on this machine is gone, is left over
UNKNOWN_OWNER_AFTER_S = 24 * 3600  # made on another machine or by an older attn-detect: owner unknown


def owned_prefix(prefix: str) -> str:
    """`prefix` followed by this machine's tag and this process's id: a temp folder says who made it,
    so that `sweep` removes only what a killed run left (a live run's is never touched)."""
    return f"{prefix}{_host_tag()}-{os.getpid()}-"


def _host_tag() -> str:
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def sweep(folder: Path, prefix: str, *, now: float | None = None) -> list[str]:
    """Remove from `folder` what killed runs left there: names that start with `prefix` (ours), made by
    a process of this machine that is gone and older than STALE_AFTER_S, or with no such owner (another
    machine, an older attn-detect) and older than UNKNOWN_OWNER_AFTER_S. Links are unlinked, never
    followed; nothing else is touched; best effort (a sweep never fails a run). Gives the names removed."""
    import re
    import time

    try:
        names = os.listdir(folder)
    except OSError:
        return []
    now = time.time() if now is None else now
    owned = re.compile(re.escape(prefix) + r"([0-9a-f]{8})-([0-9]+)-[a-z0-9_]{8}")
    older = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}")  # tempfile's own names (an older attn-detect)
    removed = []
    for name in names:
        mine = owned.fullmatch(name)
        if not mine and not older.fullmatch(name):
            continue  # not a name we make
        path = folder / name
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue
        if mine and mine.group(1) == _host_tag():
            if age < STALE_AFTER_S or _alive(int(mine.group(2))):
                continue
        elif age < UNKNOWN_OWNER_AFTER_S:
            continue
        with contextlib.suppress(OSError):
            remove_entry(path)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or a number we cannot ask about: assume it is running
    return True


class DigestMemo:
    """SHA-256 of files, remembered in a small JSON file by each file's (device, inode, size, mtime,
    ctime). The memo is only an accelerator: unreadable, damaged or unwritable, it is ignored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if path is not None:
            with contextlib.suppress(OSError, EntryMismatch):
                known = read_json(path)
                if isinstance(known, dict):
                    self._known = {k: v for k, v in known.items() if isinstance(v, dict)}

    def digest(self, file: Path, *, follow: bool = True) -> str:
        """The file's SHA-256 (hex); hashed again unless its identity and times are those memoised.
        `follow=False` refuses a symbolic link (EntryMismatch). Raises OSError when it cannot be read."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
        try:
            fd = os.open(file, flags)
        except OSError as exc:
            if not follow and os.path.islink(file):
                raise EntryMismatch(f"{file.name} is a symbolic link") from None
            raise exc from None
        info = _regular(fd, file)
        with os.fdopen(fd, "rb") as fh:
            key = str(Path(os.path.abspath(file)))
            identity = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
            known = self._known.get(key)
            if known and known.get("stat") == identity and isinstance(known.get("sha256"), str):
                return known["sha256"]
            digest = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        self._known.pop(key, None)
        self._known[key] = {"stat": identity, "sha256": value}
        self._dirty = True
        return value

    def save(self) -> None:
        """Write the memo back (best effort: a read-only cache only costs the hashing next time)."""
        if self.path is None or not self._dirty:
            return
        keep = dict(list(self._known.items())[-MEMO_ENTRIES:])
        with contextlib.suppress(OSError):
            write_json_atomic(self.path, keep)
            self._dirty = False


def digest_files(entry: Path, folder: Path, memo: DigestMemo) -> dict[str, str]:
    """{path relative to the entry: SHA-256} of every regular file in `folder` (an export in `entry`)."""
    files = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file() and not file.is_symlink():
            files[file.relative_to(entry).as_posix()] = memo.digest(file, follow=False)
    return files


def listing(entry: Path, target: Path) -> list[str]:
    """Every name under `target` (a file or folder in `entry`), relative to the entry; links and
    other non-regular files are listed too (as themselves, never followed)."""
    if not target.is_dir() or target.is_symlink():
        return [target.relative_to(entry).as_posix()]
    names = []
    for root, dirs, files in os.walk(target, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            names.append((Path(root) / name).relative_to(entry).as_posix())
    return names


def check_files(entry: Path, files: object, memo: DigestMemo) -> None:
    """Raise EntryMismatch unless every recorded file is inside the entry with its recorded digest."""
    if not isinstance(files, dict) or not files:
        raise EntryMismatch("the entry records no digests (made by an older attn-detect)")
    for relative, expected in files.items():
        path = inside(entry, relative)
        try:
            actual = memo.digest(path, follow=False)
        except OSError as exc:
            raise EntryMismatch(f"{relative} cannot be read ({exc.strerror or exc})") from None
        if actual != expected:
            raise EntryMismatch(f"{PurePosixPath(relative).name} changed since it was verified")
