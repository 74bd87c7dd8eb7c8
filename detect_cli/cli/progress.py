"""The one progress display of every command that runs a model, on stderr.

A spinner says what is happening while the model loads ("loading demo…", "preparing a faster
runtime…"); then a bar counts images, with total, rate and ETA as soon as the number of inputs is
known. The inputs are counted by a second walk over the same arguments in a background thread, so
the run streams from the first image. For commands that run videos frame by frame, the bar counts
frames (an image is one), each video file's from its container's header; a stream, or a video
URL, leaves the bar without a total. Shown on a terminal unless --quiet; --progress/--no-progress
decides instead when given. Disabled, it costs nothing and its status lines become notes.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from detect_cli.cli.console import State, note

if TYPE_CHECKING:  # NumPy and OpenCV: loaded when a count runs, never for --help
    from detect_cli.inputs.video import VideoOptions

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
        return Text(f"{int(task.completed)}{total} {task.fields.get('unit') or self.unit}")


class _Rate(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit") or self.unit
        if task.fields.get("waiting") or not speed:
            return Text("")
        return Text(f"{speed:.1f} {unit}/s" if speed >= 1 else f"{1 / speed:.1f} s/{unit.rstrip('s')}")


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
        # What the background walk found: per input, the bar's steps it takes (1, or a video's frames;
        # None: unknown), and the paths of the video files (to count a resumed one's frames left)
        self._units: list[int | None] | None = None
        self._videos: dict[int, str] = {}
        self._video: VideoOptions | None = None  # count videos by their frames, as read with these options
        self._done: Collection[int] = ()  # inputs done by an earlier run (--resume): counted, but not run again
        self._partial: Mapping[int, int] = {}  # videos an earlier run cut short: index -> last frame written
        self._started = False
        self.counter: threading.Thread | None = None
        # soft_wrap: lines printed above the bar (notes, and stdout when it is the terminal) are not cut;
        # force_terminal: --progress asks for it on a pipe too
        self._console = Console(file=sys.stderr, soft_wrap=True, force_terminal=enabled or None)
        self._stdout_too = _same_terminal(sys.stdout, sys.stderr)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            _Bar(),
            _Count(unit),
            _Rate(unit),
            _Eta(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
            disable=not enabled,
            # stdout carries results: what is written there goes above the bar only when it is this terminal
            redirect_stdout=self._stdout_too,
        )
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

    def start(
        self,
        description: str,
        total: int | None = None,
        *,
        done: Collection[int] = (),
        partial: Mapping[int, int] | None = None,
    ) -> None:
        """The bar: from now on each `advance` is one step, an image or a frame (elapsed time, rate and
        ETA start here). `done` and `partial`: inputs an earlier run did, or cut short (--resume),
        left out of the counted total."""
        with self._lock:
            self._done, self._partial, self._started = done, partial or {}, True
            if total is None:
                total = self._total()
            task = next(t for t in self._progress.tasks if t.id == self._task)
            unit = task.fields.get("unit", "")  # reset replaces the fields: keep the unit
            self._progress.reset(self._task, description=description, total=total, waiting=False, unit=unit)

    def describe(self, text: str) -> None:
        """The bar's text, while it counts (--watch: files waiting)."""
        if self.enabled:
            self._progress.update(self._task, description=text)

    def count(self, sources: Sequence[str], *, recursive: bool, video: VideoOptions | None = None) -> None:
        """Set the bar's total from a second walk over `sources`, in the background (start it before
        the model loads: the count is often ready with the first image). With `video`, a video file
        counts as its frames. Lists that can be read only once (stdin, a FIFO given as @list) are not
        read twice: no total then."""
        if not self.enabled or not _countable(sources):
            return
        self._video = video
        self.counter = threading.Thread(
            target=self._count, args=(list(sources), recursive), daemon=True, name="count-sources"
        )
        self.counter.start()

    def _count(self, sources: list[str], recursive: bool) -> None:
        from detect_cli.inputs.sources import is_stream, is_video, iter_sources
        from detect_cli.inputs.video import frames_to_run

        units: list[int | None] = []
        videos: dict[int, str] = {}
        try:
            for index, source in enumerate(iter_sources(sources, recursive=recursive)):
                if self._stop_counting.is_set():
                    return
                if self._video is None or source.error or not is_video(source.ref):
                    units.append(1)
                elif source.is_url or is_stream(source.ref):
                    units.append(None)  # opening it here would be a second connection, and a stream has no end
                else:
                    videos[index] = source.ref
                    units.append(frames_to_run(source.ref, self._video))
        except Exception:  # the run itself reports bad inputs; without a count the bar just has no total
            return
        with self._lock:
            if self._stop_counting.is_set():
                return
            self._units, self._videos = units, videos
            fields = {"unit": "frames"} if videos or None in units else {}
            if self._started:
                self._progress.update(self._task, total=self._total(), **fields)
            else:
                self._progress.update(self._task, **fields)
        self._progress.refresh()

    def _total(self) -> int | None:
        """Steps left to run (call holding the lock): the counted ones, less what an earlier run did."""
        from detect_cli.inputs.video import frames_to_run

        if self._units is None:
            return None
        total = 0
        for index, units in enumerate(self._units):
            if index in self._done:
                continue
            if index in self._partial and index in self._videos and self._video is not None:
                units = frames_to_run(self._videos[index], self._video, after=self._partial[index])
            if units is None:
                return None
            total += units
        return total

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
