"""Compiled input shapes kept in a cache entry, and checked like its other files before OpenVINO reads them.

Our OpenVINO runner reshapes a dynamic export to each picture's shape (`openvino_direct.CompiledShapes`).
Compiling a shape costs 0.3-0.8 s for the demo models, more than a cached one-image run may spend, so
what OpenVINO compiles is kept in `<entry>/shapes/` (its model cache folder) and listed with SHA-256
digests in `shapes/shapes.json`. Before OpenVINO may import from the folder, every file in it must be
listed with its digest: anything else (changed, added by someone else, a link, a half-written file of
a run that died) is removed, and that shape is compiled again. The verified export itself is checked
by `runtime_cache.load_decision`; this folder lies beside it, so adding a shape never touches the
entry's verified files. Two runs adding shapes at once may each list only their own: the other's file
is then removed and compiled again later, never run unchecked.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from detect_cli.models.cache_files import DigestMemo, EntryMismatch, read_json, write_json_atomic

SHAPES = "shapes"  # the folder in a cache entry
LISTING = "shapes.json"


def checked(folder: Path, memo: DigestMemo) -> Path | None:
    """`folder`, holding only files whose digests it lists, ready for OpenVINO to import from;
    None when it cannot be used (not a folder, not writable): shapes are then compiled in memory."""
    try:
        if folder.is_symlink():
            return None
        folder.mkdir(parents=True, exist_ok=True)
        try:
            listed = read_json(folder / LISTING)
        except (FileNotFoundError, EntryMismatch):
            listed = {}
        listed = listed if isinstance(listed, dict) else {}
        for path in folder.iterdir():
            if path.name != LISTING and not _listed(path, listed, memo):
                _remove(path)
    except OSError:
        return None
    return folder


def record(folder: Path, memo: DigestMemo) -> None:
    """List what is in `folder` now (after a compile wrote there), with digests; best effort."""
    with contextlib.suppress(OSError):
        files = {
            p.name: memo.digest(p, follow=False)
            for p in sorted(folder.iterdir())
            if p.name != LISTING and p.is_file() and not p.is_symlink()
        }
        write_json_atomic(folder / LISTING, files)
        memo.save()


def _listed(path: Path, listed: dict, memo: DigestMemo) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        return listed.get(path.name) == memo.digest(path, follow=False)
    except (OSError, EntryMismatch):
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
