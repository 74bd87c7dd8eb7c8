"""Where `--backend auto` keeps what it decided, and how an entry is read back without trusting it.

    <cache>/backends/<key>/decision.json   the runtime chosen, why, and the SHA-256 of every file it runs
    <cache>/backends/<key>/<runtime>/...   the verified export
    <cache>/digests.json                   the stat-keyed digest memo (`cache_files.DigestMemo`)

<cache> is ATTN_DETECT_CACHE_DIR, else ~/.cache/attn-detect (XDG_CACHE_HOME). A decision is checked
before it is believed (`load_decision`); one that fails a check is rebuilt. I/O errors (the cache dir a
file, read-only, /dev/null) are raised as OSError: the caller runs PyTorch and says why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from detect_cli.models.cache_files import (
    DigestMemo,
    EntryMismatch,
    check_files,
    inside,
    listing,
    read_json,
    write_json_atomic,
)

CACHE_ENV = "ATTN_DETECT_CACHE_DIR"
SCHEMA = 2  # decisions before it recorded no digests: they are rebuilt
RUNTIMES = ("torch", "openvino", "onnx")
RUNNERS = ("ultralytics",)  # what runs an export: Ultralytics' wrapper


def cache_dir() -> Path:
    """ATTN_DETECT_CACHE_DIR, else the XDG cache dir (~/.cache/attn-detect)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attn-detect"


def cache_root() -> Path:
    """The folder of runtime decisions, one entry per cache key."""
    return cache_dir() / "backends"


def digest_memo() -> DigestMemo:
    return DigestMemo(cache_dir() / "digests.json")


def load_decision(entry: Path, candidates: tuple[str, ...], memo: DigestMemo) -> dict[str, Any] | None:
    """The entry's decision if it covers these candidates and everything it runs is as verified; None
    when there is no entry. Raises EntryMismatch (rebuild it) for anything else: a damaged or foreign
    decision.json, a path leaving the entry, a file whose digest changed."""
    if not os.path.lexists(entry):
        return None
    if os.path.islink(entry) or not os.path.isdir(entry):
        raise EntryMismatch("the cache entry is not a folder")
    try:
        decision = read_json(entry / "decision.json")
    except FileNotFoundError:
        raise EntryMismatch("decision.json is missing") from None
    if not isinstance(decision, dict) or decision.get("schema") != SCHEMA:
        raise EntryMismatch("decision.json is not one this attn-detect wrote")
    if decision.get("candidates") != list(candidates):
        return None  # decided for other candidates (--backend onnx after auto): decide again
    backend = decision.get("backend")
    if backend not in RUNTIMES or not isinstance(decision.get("reason"), str):
        raise EntryMismatch(f"decision.json names an unknown runtime {backend!r}")
    if backend != "torch":
        folder = inside(entry, decision.get("path"))
        if decision.get("runner") not in RUNNERS:
            raise EntryMismatch(f"decision.json names an unknown runner {decision.get('runner')!r}")
        files = decision.get("files")
        check_files(entry, files, memo)
        prefix = str(decision["path"])
        recorded = {str(n) for n in files if n == prefix or str(n).startswith(prefix + "/")}  # type: ignore[union-attr]
        present = set(listing(entry, folder))
        if not recorded or present != recorded:  # a runtime may read any file in its folder: no extras
            extra = sorted(present - recorded) or ["(none recorded)"]
            raise EntryMismatch(f"the export holds files that were not verified: {extra[0]}")
    return {**decision, "cached": True}


def write_decision(entry: Path, decision: dict[str, Any]) -> None:
    write_json_atomic(entry / "decision.json", {"schema": SCHEMA, **decision})
