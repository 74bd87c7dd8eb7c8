"""`--watch`: what it refuses (`check_watch`), the watch a run reads its sources from (`open_watch`:
Ctrl-C or SIGTERM ends it, every record finished kept), and `--resume` of a watch.

With `--out FILE.jsonl --resume`, each record says which version of its file it is for, so a
restarted watcher reads exactly what no record covers yet.

A watch run's records carry `file: {mtime_ns, size}` (the file as it was when it was handed on)
and number on from the file's last index. On `--resume` (after `resume.prepare_resume` has checked
the settings and repaired a cut last line), `watched_state` reads back path -> versions recorded:
a file still at a recorded version is done; one replaced or added while no watcher ran is read.
A record is one flushed line, written after its file was run: killed at any moment, a watcher
loses no file and, restarted, writes none twice.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.inputs.watch import FolderWatch, Version
from detect_cli.outputs.records import IMAGES, Layout

VERSION_FIELD = "file"


def check_watch(sources: Sequence[str], *, ray: bool, resume: bool, out_format: str | None) -> None:
    """Refuse what --watch cannot do, before any model loads."""
    for source in sources:
        if not Path(source).is_dir():
            raise ConfigError(f"--watch {source}: not a folder", "--watch watches folders for new images")
    if ray:
        raise ConfigError("--watch runs locally (it follows a folder as files land)", "drop --engine ray")
    if resume and out_format != "jsonl":
        raise ConfigError(
            "--watch --resume needs --out FILE.jsonl (its records say which version of each file they are for)"
        )


@dataclass
class WatchRun:
    """A watch over folders: `watch` gives the sources as files land; records number on from `first_index`."""

    watch: FolderWatch
    first_index: int

    def layout(self) -> Layout:
        return watch_layout(self.watch, self.first_index)


def open_watch(
    sources: Sequence[str],
    *,
    recursive: bool,
    out_file: Path | None,
    resume: bool,
    on_skip: Callable[[str, str], None],
    on_gone: Callable[[str, str], None],
    on_waiting: Callable[[str], None],
    say: Callable[[str], None],
    on_folder: Callable[[str], None],
) -> WatchRun:
    """The watch over `sources` (folders), less what `out_file` already has when resuming. It ends with
    Ctrl-C; SIGTERM, as a service manager stops it, does the same (KeyboardInterrupt)."""
    state = watched_state(out_file) if resume and out_file is not None else WatchedState()
    names = ", ".join(sources)

    def waiting(count: int) -> None:
        on_waiting(f"watching {names}: {count} waiting")

    watch = FolderWatch(
        list(sources),
        recursive=recursive,
        done=state.done,
        on_gone=on_gone,
        on_skip=on_skip,
        on_waiting=waiting,
        on_folder=on_folder,
    )
    how = "polling: no file events on this file system" if watch.polling else "file events"
    say(f"watching {names} for new images ({how}); Ctrl-C stops")
    try:
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (an embedding program's): it handles its signals itself
        pass
    return WatchRun(watch, state.next_index)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class WatchedState:
    done: dict[str, set[Version | None]] = field(default_factory=dict)  # None: a record without a version
    next_index: int = 0


def watched_state(out: Path) -> WatchedState:
    """What the records in `out` (JSONL) cover: path -> versions, and the next free index."""
    state = WatchedState()
    try:
        with open(out, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                record = _record(line)
                if record is None:
                    continue
                index, source = record.get("index"), record.get("source")
                if type(index) is int:
                    state.next_index = max(state.next_index, index + 1)
                if isinstance(source, str):
                    state.done.setdefault(source, set()).add(_version(record.get(VERSION_FIELD)))
    except FileNotFoundError:
        return state
    except OSError as exc:
        raise ConfigError(f"cannot resume {out}: {exc.strerror or exc}") from None
    return state


def watch_layout(watch: FolderWatch, first_index: int = 0, base: Layout = IMAGES) -> Layout:
    """`base` with the watch fields in each record: the index numbered on from `first_index`, the file's version."""
    shape: Callable[[ImageResult], dict[str, Any]] = base.record

    def record(result: ImageResult) -> dict[str, Any]:
        out = {**shape(result), "index": first_index + result.index}
        version = watch.version_for(result.index)
        if version is not None:
            out[VERSION_FIELD] = {"mtime_ns": version.mtime_ns, "size": version.size}
        return out

    return replace(base, record=record)


def _record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _version(value: Any) -> Version | None:
    if isinstance(value, dict) and type(value.get("mtime_ns")) is int and type(value.get("size")) is int:
        return Version(value["mtime_ns"], value["size"])
    return None
