"""detect --watch: the folder watch wired into the run (progress, notes, --resume, SIGTERM).

The run itself is detect's: the watch is its sources and a stage on its results. It ends with
Ctrl-C (exit 130, every record finished kept); SIGTERM, as a service manager stops it, does the same.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from detect_cli.cli.console import note, warn
from detect_cli.core.errors import ConfigError

if TYPE_CHECKING:
    from detect_cli.cli.progress import RunProgress
    from detect_cli.inputs.watch import FolderWatch
    from detect_cli.outputs.records import Layout


def check_watch(sources: list[str], *, ray: bool, resume: bool, out_format: str | None) -> None:
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
    watch: FolderWatch
    first_index: int

    def layout(self) -> Layout:
        from detect_cli.tasks.watch import watch_layout

        return watch_layout(self.watch, self.first_index)


def open_watch(
    sources: list[str],
    *,
    recursive: bool,
    out_file: Path | None,
    resume: bool,
    bar: RunProgress,
    on_skip: Callable[[str, str], None],
    on_gone: Callable[[str, str], None],
) -> WatchRun:
    """The watch over `sources` (folders), less what `out_file` already has when resuming."""
    from detect_cli.inputs.watch import FolderWatch
    from detect_cli.tasks.watch import WatchedState, watched_state

    state = watched_state(out_file) if resume and out_file is not None else WatchedState()
    names = ", ".join(sources)

    def waiting(count: int) -> None:
        bar.describe(f"watching {names}: {count} waiting")

    watch = FolderWatch(
        sources,
        recursive=recursive,
        done=state.done,
        on_gone=on_gone,
        on_skip=on_skip,
        on_waiting=waiting,
        on_folder=warn,
    )
    how = "polling: no file events on this file system" if watch.polling else "file events"
    note(f"watching {names} for new images ({how}); Ctrl-C stops")
    try:
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (an embedding program's): it handles its signals itself
        pass
    return WatchRun(watch, state.next_index)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
