"""The one progress display of every command that runs a model, on stderr.

A spinner says what is happening while the model loads ("loading demo…", "preparing a faster
runtime…"); then a bar counts images, with total, rate and ETA as soon as the number of inputs is
known. The inputs are counted by a second walk over the same arguments in a background thread, so
the run streams from the first image. Shown on a terminal unless --quiet; --progress/--no-progress
decides instead when given. Disabled, it costs nothing and its status lines become notes.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from detect_cli.cli.output import State, note

T = TypeVar("T")


def wanted(flag: bool | None, *, quiet: bool) -> bool:
    """--progress/--no-progress when given; else only on a terminal, and never with --quiet."""
    if flag is not None:
        return flag
    return not quiet and _isatty(sys.stderr)


class _Bar(BarColumn):
    def render(self, task: Task) -> Any:
        return Text("") if task.fields.get("waiting") else super().render(task)


class _Count(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        if task.fields.get("waiting"):
            return Text("")
        total = "" if task.total is None else f"/{int(task.total)}"
        return Text(f"{int(task.completed)}{total} {self.unit}")


class _Rate(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if task.fields.get("waiting") or not speed:
            return Text("")
        return Text(f"{speed:.1f} {self.unit}/s" if speed >= 1 else f"{1 / speed:.1f} s/{self.unit.rstrip('s')}")


class _Eta(ProgressColumn):
    def render(self, task: Task) -> Text:
        left = task.time_remaining
        if task.fields.get("waiting") or task.total is None or left is None or task.finished:
            return Text("")
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"eta {hours}:{minutes:02d}:{seconds:02d}", style="cyan")


class RunProgress:
    """Use as a context manager around a command's work; every method is safe when disabled."""

    def __init__(self, enabled: bool, unit: str = "images") -> None:
        self.enabled = enabled
        self._stop_counting = threading.Event()
        self._lock = threading.Lock()
        self._counted: int | None = None  # inputs found by the background walk
        self._done_before = 0  # inputs done by an earlier run (--resume): counted, but not run again
        self.counter: threading.Thread | None = None
        # soft_wrap: lines printed above the bar (notes, and stdout when it is the terminal) are not cut;
        # force_terminal: --progress asks for it on a pipe too
        self._console = Console(file=sys.stderr, soft_wrap=True, force_terminal=enabled or None)
        self._stdout_too = _same_terminal(sys.stdout, sys.stderr)
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), _Bar(), _Count(unit), _Rate(unit), _Eta(),
            TimeElapsedColumn(), console=self._console, transient=True, disable=not enabled,
            # stdout carries results: what is written there goes above the bar only when it is this terminal
            redirect_stdout=self._stdout_too,
        )  # fmt: skip
        self._task = self._progress.add_task("starting…", total=None, waiting=True)

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        if self.enabled:
            State.live, State.live_stdout = self._console, self._stdout_too
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_counting.set()
        if self.enabled:
            State.live, State.live_stdout = None, False
        self._progress.__exit__(*exc)

    def loading(self, model: str) -> None:
        self.status(f"loading {model}…", quiet=True)

    def status(self, text: str, *, quiet: bool = False) -> None:
        """What is happening now: the spinner's text, or a note when there is no spinner (unless `quiet`)."""
        if self.enabled:
            self._progress.update(self._task, description=text, waiting=True)
            self._progress.refresh()  # said now: the step it names may hold the GIL for seconds
        elif not quiet:
            note(text)

    def start(self, description: str, total: int | None = None, *, done_before: int = 0) -> None:
        """The bar: from now on each `advance` is one image (elapsed time, rate and ETA start here).
        `done_before`: inputs an earlier run did (--resume), left out of the counted total."""
        with self._lock:
            self._done_before = done_before
            if total is None and self._counted is not None:
                total = max(self._counted - done_before, 0)
            self._progress.reset(self._task, description=description, total=total, waiting=False)

    def count(self, sources: Sequence[str], *, recursive: bool) -> None:
        """Set the bar's total from a second walk over `sources`, in the background (start it before
        the model loads: the count is often ready with the first image). Lists that can be read only
        once (stdin, a FIFO given as @list) are not read twice: no total then."""
        if not self.enabled or not _countable(sources):
            return
        self.counter = threading.Thread(target=self._count, args=(list(sources), recursive), daemon=True,
                                        name="count-sources")  # fmt: skip
        self.counter.start()

    def _count(self, sources: list[str], recursive: bool) -> None:
        from detect_cli.sources import iter_sources

        n = 0
        try:
            for _ in iter_sources(sources, recursive=recursive):
                if self._stop_counting.is_set():
                    return
                n += 1
        except Exception:  # the run itself reports bad inputs; without a count the bar just has no total
            return
        with self._lock:
            if self._stop_counting.is_set():
                return
            self._counted = n
            self._progress.update(self._task, total=max(n - self._done_before, 0))
        self._progress.refresh()

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._task, steps)

    def tracked(self, items: Sequence[T]) -> Sequence[T]:
        """`items`, advancing the bar as each one is done with (when the next is asked for)."""
        return _Tracked(items, self) if self.enabled else items


class _Tracked(Sequence[T]):
    def __init__(self, items: Sequence[T], progress: RunProgress) -> None:
        self._items, self._progress = items, progress

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __iter__(self) -> Iterator[T]:
        for item in self._items:
            yield item
            self._progress.advance()


def _countable(sources: Iterable[str]) -> bool:
    for arg in sources:
        arg = arg.strip()
        if arg == "-":
            return False
        if arg.startswith("@"):
            try:
                if not stat.S_ISREG(os.stat(arg[1:]).st_mode):
                    return False
            except OSError:
                pass  # the run reports it: one error record, which the count counts too
    return True


def _same_terminal(a: Any, b: Any) -> bool:
    try:
        first, second = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, ValueError, OSError):  # test runners' streams, closed ones
        return False
    return _isatty(a) and _isatty(b) and (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # None, or closed
        return False
