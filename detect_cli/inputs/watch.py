"""`detect DIR --watch`: the images in folders now, then each new or replaced one as it lands.

`FolderWatch` is an endless iterable of `Source`s for the engine. It starts watching (watchfiles:
inotify, FSEvents, ReadDirectoryChangesW) before it lists the folders, so no file landing meanwhile
is missed. A file is handed on once it has stopped changing (size and mtime still for `settle_s`,
or last written that long ago) and, for JPEG, PNG, GIF, WebP and BMP, once it looks whole
(`file_complete.py`): a half-copied JPEG waits, up to `incomplete_s`, and is not an error. When
nothing is ready it yields `sources.IDLE`, so the engine runs the images it holds at once; files
that pile up while the model runs are handed on together, and run as batches of up to --batch.

A file is handed on again when it is replaced (its size or mtime changes). `done` (path -> the
versions already in the results, from a `--resume`d file) leaves out the files still at a version
an earlier run recorded: files that arrived or changed while no watcher ran are read. Network
file systems (NFS, SMB, FUSE, 9p...) send no events for changes made elsewhere: on those the folder
is polled instead (`filesystems.needs_polling`). Hidden files (`.name`, as rsync's temporary ones)
and non-images are ignored; videos are skipped with a note (run them without --watch).

A watched folder that is deleted or renamed away is noticed (its identity is checked every
`FOLDER_CHECK_S`; `on_folder` says so): its pending files are dropped without a word each, events
still naming its old path are ignored, and the watch goes on with the other folders. When a
folder of that path is back, it is said, listed again (files at a version already read are left
out, as on `--resume`) and watched again. Should file events fail while the folders are there
(watchfiles cannot name a file whose name is not UTF-8; the OS's limit of watches), it is said and
the folders are listed every `LIST_S` instead: the watch goes on.

`records` is the stage the results pass through (`DetectJob.stages`): it counts them for the
`waiting` figure, keeps each one's file version for the record (`version_for`), and turns the error
of a file deleted or replaced before it was read into a note (`on_gone`) rather than a record.

Long because finding files (events, scans, settling) and following the watched folders themselves
are one state machine over the same pending files.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from detect_cli.core.errors import ConfigError
from detect_cli.inputs.file_complete import looks_complete
from detect_cli.inputs.filesystems import needs_polling
from detect_cli.inputs.sources import IDLE, Source, file_problem, is_image_path, is_video, walk_entries

SETTLE_S = 0.25  # unchanged this long: written (the shorter, the sooner a record; file_complete covers most pauses)
INCOMPLETE_S = 10.0  # a file that looks cut is read anyway once unchanged this long (it is broken: an error record)
WAIT_S = 0.05  # step of every wait: settling files are looked at again, and Ctrl-C is never held up
DEBOUNCE_MS, STEP_MS = 200, 50  # watchfiles hands over changes when none came for STEP_MS, at most DEBOUNCE_MS late
POLL_MS = 300
FOLDER_CHECK_S = 0.5  # how often each watched folder's identity is checked (one stat each)
LIST_S = 1.0  # once file events fail (a name watchfiles cannot decode, the OS's watch limit): list this often

if TYPE_CHECKING:
    from detect_cli.core.results import ImageResult

GoneHandler = Callable[[str, str], None]  # (path, why)


class Version(NamedTuple):
    """Which content of a file a record is for: it changes when the file is replaced."""

    mtime_ns: int
    size: int


def version_of(info: os.stat_result) -> Version:
    return Version(info.st_mtime_ns, info.st_size)


@dataclass
class _Settling:
    root: Path
    version: Version | None
    since: float  # monotonic: when it was first seen, or last seen changing


class FolderWatch:
    def __init__(
        self,
        folders: Sequence[Path | str],
        *,
        recursive: bool = False,
        done: Mapping[str, Collection[Version | None]] | None = None,
        settle_s: float = SETTLE_S,
        incomplete_s: float = INCOMPLETE_S,
        force_polling: bool | None = None,
        on_gone: GoneHandler | None = None,
        on_skip: Callable[[str, str], None] | None = None,
        on_waiting: Callable[[int], None] | None = None,
        on_folder: Callable[[str], None] | None = None,
    ) -> None:
        """`folders`: existing folders (ConfigError otherwise). `done`: path -> versions already
        recorded (None: any version). `force_polling`: None chooses by the file system. `on_folder`: a
        line to show when a watched folder goes away or comes back."""
        self.folders = [Path(os.path.abspath(f)) for f in folders]
        for folder in self.folders:
            if not folder.is_dir():
                raise ConfigError(f"--watch {folder}: not a folder", "--watch watches folders for new images")
        self.recursive, self.settle_s, self.incomplete_s = recursive, settle_s, incomplete_s
        self.polling = any(needs_polling(f) for f in self.folders) if force_polling is None else force_polling
        self.on_gone, self.on_skip, self.on_waiting, self.on_folder = on_gone, on_skip, on_waiting, on_folder
        self._identity: dict[Path, tuple[int, int] | None] = {f: _identity(f) for f in self.folders}
        self._watcher_stop = threading.Event()
        self._generation = 0  # of the watching thread: events of an earlier one are ignored
        self._folders_checked = time.monotonic()
        self._listing, self._listed = False, 0.0  # file events failed: the folders are listed instead
        self._done: dict[str, set[Version | None]] = {p: set(v) for p, v in (done or {}).items()}
        self._settling: dict[str, _Settling] = {}
        self._ready: dict[str, tuple[Path, Version | None, str | None]] = {}  # in the order they became ready
        self._handed_on: dict[int, tuple[str, Version | None]] = {}  # index -> file, until its result passes
        self._current: tuple[int, Version | None] | None = None
        self._handed = self._recorded = 0
        self._skipped: set[str] = set()
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._checked = 0.0
        self._said = -1

    @property
    def waiting(self) -> int:
        """Files seen and not yet recorded: settling, ready, or being read and run."""
        return len(self._settling) + len(self._ready) + self._handed - self._recorded

    def __iter__(self) -> Iterator[Source]:
        self._start_watching()
        try:
            for root in self.folders:
                self._scan(root, root)
            idle = True
            while not self._stop.is_set():
                self._check_folders()
                self._list_again()
                self._take_events(block=False)
                self._check(force=not self._ready)
                if self._ready:
                    yield self._hand_on()
                    idle = False
                elif not idle:  # all handed on: let the engine run what it holds
                    idle = True
                    self._say_waiting()
                    yield IDLE
                else:
                    self._say_waiting()
                    self._take_events(block=True)
        finally:
            self._stop.set()
            self._watcher_stop.set()

    def stop(self) -> None:
        """End the iteration (from any thread) within a wait step; watching stops with it."""
        self._stop.set()

    def records(self, results: Iterable[ImageResult]) -> Iterator[ImageResult]:
        """The results of the sources handed on, less the errors of files gone or replaced meanwhile."""
        for result in results:
            self._recorded += 1
            path, version = self._handed_on.pop(result.index, (result.source, None))
            self._current = (result.index, version)
            why = None if result.ok else self._gone_since(path, version)
            if why is not None:
                if self.on_gone:
                    self.on_gone(path, why)
            else:
                yield result
            self._say_waiting()

    def version_for(self, index: int) -> Version | None:
        """The file version of the result `records` passed last (its record is being written)."""
        return self._current[1] if self._current is not None and self._current[0] == index else None

    # --- finding files -------------------------------------------------------------------------------------

    def _start_watching(self) -> None:
        """A watching thread over the folders present now (the one before, if any, is stopped)."""
        self._watcher_stop.set()
        self._watcher_stop, self._generation = threading.Event(), self._generation + 1
        present = [f for f in self.folders if self._identity[f] is not None]
        if present:
            threading.Thread(
                target=self._watch,
                args=(present, self._watcher_stop, self._generation),
                name="attn-detect-watch",
                daemon=True,
            ).start()

    def _check_folders(self) -> None:
        """Notice a watched folder deleted or renamed away (its path names another file, or none), and
        one back at its path: said, and watched again."""
        now = time.monotonic()
        if now - self._folders_checked < FOLDER_CHECK_S:
            return
        self._folders_checked = now
        changed = False
        for folder, known in self._identity.items():
            current = _identity(folder)
            if current == known:
                continue
            changed, self._identity[folder] = True, current
            if known is not None:
                self._forget(folder)
                self._say_folder(f"--watch: {folder} was deleted or moved away; watching for it to come back")
            if current is not None:
                self._say_folder(f"--watch: {folder} is back; watching it again")
                self._scan(folder, folder)
        if changed:
            self._start_watching()

    def _list_again(self) -> None:
        """When file events failed: list the folders that are there every LIST_S (what was read, at its
        version, is left out as on `--resume`; what settles or waits is not taken twice)."""
        now = time.monotonic()
        if not self._listing or now - self._listed < LIST_S:
            return
        self._listed = now
        for folder, identity in self._identity.items():
            if identity is not None:
                self._scan(folder, folder)

    def _forget(self, folder: Path) -> None:
        """Drop the pending files of a folder that went (they are not 'deleted': the folder is)."""
        for pending in (self._settling, self._ready):
            for path in [p for p in pending if self._root_of(p) == folder]:
                del pending[path]

    def _folder_gone(self, path: str) -> bool:
        """Whether the watched folder of `path` is gone, or no longer the one watched (looked at now)."""
        root = self._root_of(path)
        known = self._identity[root]
        return known is None or _identity(root) != known

    def _say_folder(self, text: str) -> None:
        if self.on_folder:
            self.on_folder(text)

    def _watch(self, folders: list[Path], stop: threading.Event, generation: int) -> None:
        import watchfiles

        try:
            for changes in watchfiles.watch(
                *folders,
                watch_filter=_not_hidden,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
                force_polling=self.polling or None,
                poll_delay_ms=POLL_MS,
                recursive=self.recursive,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                self._events.put((generation, changes))
        except BaseException as exc:  # the folder went away, or the OS refused to watch it
            self._events.put((generation, exc))

    def _take_events(self, *, block: bool) -> None:
        timeout = WAIT_S if self._settling else 1.0
        while True:
            try:
                item = self._events.get(timeout=timeout) if block else self._events.get_nowait()
            except queue.Empty:
                return
            generation, item = item
            if generation != self._generation:
                continue  # from a watching thread stopped since (a folder went or came back)
            if isinstance(item, BaseException):
                self._folders_checked = 0.0
                self._check_folders()  # a folder that went away is said, and the others watched on
                if generation == self._generation and not self._listing:  # the folders are there: events failed
                    self._listing = True  # e.g. watchfiles cannot name a file whose name is not UTF-8
                    self._say_folder(f"--watch: file events stopped ({item}); listing the folders every {LIST_S:g} s")
                continue
            for change, path in sorted(item, key=lambda c: (c[1], c[0])):  # a set: in name order, as a folder is read
                if self._identity[self._root_of(path)] is not None:  # not under the old path of one gone
                    self._changed(path, getattr(change, "name", "") == "added")
            block = False

    def _changed(self, path: str, added: bool) -> None:
        try:
            info = os.stat(path)
        except OSError:  # gone already: one it knew, or one that came and went between two looks
            self._vanished(path, seen=added and is_image_path(Path(path)) and _not_hidden(None, path))
            return
        root = self._root_of(path)
        if stat.S_ISDIR(info.st_mode):
            if added and self.recursive:  # a folder moved in brings files that send no events of their own
                self._scan(Path(path), root)
        elif path in self._ready:  # written again after it looked done: it settles again
            del self._ready[path]
            self._settling[path] = _Settling(root, None, time.monotonic())
        else:
            self._consider(path, root, info)

    def _scan(self, folder: Path, root: Path) -> None:
        for entry in walk_entries(folder, recursive=self.recursive):
            if entry.problem is not None:
                if str(entry.path) not in self._skipped:  # a FIFO named .jpg, a folder that cannot be listed
                    self._skipped.add(str(entry.path))
                    self._ready[str(entry.path)] = (root, None, entry.problem)
            elif not entry.path.name.startswith("."):
                self._consider(str(entry.path), root)

    def _consider(self, path: str, root: Path, info: os.stat_result | None = None) -> None:
        if path in self._settling or path in self._ready or os.path.basename(path).startswith("."):
            return
        if not is_image_path(Path(path)):
            if is_video(path) and path not in self._skipped and self.on_skip:
                self._skipped.add(path)
                self.on_skip(path, "a video: --watch reads images (run videos without it)")
            return
        try:
            info = info or os.stat(path)
        except OSError:
            return
        if not stat.S_ISREG(info.st_mode):
            self._ready[path] = (root, None, file_problem(path) or "not a regular file")
            return
        version = version_of(info)
        done = self._done.get(path, ())
        if version in done or None in done:
            return
        self._settling[path] = _Settling(root, version, time.monotonic())

    def _check(self, *, force: bool) -> None:
        """Move the files that stopped changing (and look whole) to the ready ones."""
        now = time.monotonic()
        if not force and now - self._checked < WAIT_S:
            return
        self._checked = now
        for path, settling in list(self._settling.items()):
            try:
                info = os.stat(path)
            except FileNotFoundError:
                self._vanished(path)
                continue
            except OSError as exc:
                del self._settling[path]
                self._ready[path] = (settling.root, None, f"cannot access: {exc.strerror or exc}")
                continue
            version = version_of(info)
            if version != settling.version:
                settling.version, settling.since = version, now
                continue
            still = max(now - settling.since, time.time() - info.st_mtime_ns / 1e9)
            if still < self.settle_s or (still < self.incomplete_s and not looks_complete(path)):
                continue
            del self._settling[path]
            self._ready[path] = (settling.root, version, None)

    def _vanished(self, path: str, *, seen: bool = False) -> None:
        known = self._settling.pop(path, None) is not None or self._ready.pop(path, None) is not None
        if self._folder_gone(path):
            return  # its folder went (said once, by _check_folders), not the file alone
        if known or seen:
            if self.on_gone:
                self.on_gone(path, "deleted before it was read")

    def _hand_on(self) -> Source:
        path = next(iter(self._ready))
        root, version, problem = self._ready.pop(path)
        index, self._handed = self._handed, self._handed + 1
        self._handed_on[index] = (path, version)
        if problem is None:
            self._done.setdefault(path, set()).add(version)
        return Source(path, Path(path).relative_to(root).as_posix(), error=problem)

    def _gone_since(self, path: str, version: Version | None) -> str | None:
        """Why the error of this file is no error of its own: it went, or changed, after it was handed on."""
        try:
            now = version_of(os.stat(path))
        except FileNotFoundError:
            gone = self._folder_gone(path)
            return f"{self._root_of(path)} went away before it was read" if gone else "deleted before it was read"
        except OSError:
            return None
        return "replaced while it was read (the new file is read next)" if version and now != version else None

    def _root_of(self, path: str) -> Path:
        return max(
            (f for f in self.folders if path.startswith(str(f).rstrip(os.sep) + os.sep)),
            key=lambda f: len(str(f)),
            default=self.folders[0],
        )

    def _say_waiting(self) -> None:
        if self.on_waiting and self.waiting != self._said:
            self._said = self.waiting
            self.on_waiting(self._said)


def _identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder at this path, or None when the path names no folder now."""
    try:
        info = os.stat(folder)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def _not_hidden(_change: object, path: str) -> bool:
    return not os.path.basename(path).startswith(".")
