"""Where a run writes (`--out FILE`, `--save DIR`), checked against its inputs and claimed for the run.

- `check_apart`: refuse, before any model loads, an output that would destroy an input or feed
  its own images back in as inputs; `check_out_name`: an --out of `-` or a link to nothing.
- `is_regular_target`: only a regular file (or a new name) gets a sidecar and a lock beside it,
  never a device (`/dev/full`), a FIFO or anything under /dev or /proc.
- `OutputLock`: `flock` on `<out>.lock` and on the results file itself (by its identity: a hard
  link is the same file), held for the whole run, so a second run writing the same file (or its
  sidecar) fails at once instead of interleaving lines. The OS drops the lock when the
  process dies however it dies; a lock file left by a crash is simply locked again by the next run.

Long because every guard on the user's files (inputs apart, locks by name and identity) is here.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from detect_cli.core.errors import ConfigError
from detect_cli.inputs.sources import GLOB_CHARS, is_image_path

LOCK_MARK = b"attn-detect: lock for the results file beside it; safe to delete when no run is going\n"


def check_folder(path: Path | None, flag: str = "--save", hint: str = "pass a folder path") -> None:
    """An output folder may be new, but not an existing file (ConfigError naming the option)."""
    if path is not None and path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: exists and is not a folder", hint)


def check_apart(
    args: Iterable[str],
    out: Path | None,
    save: Path | None,
    *,
    recursive: bool,
    keep: Mapping[str, object] | None = None,
    save_flag: str = "--save",
) -> None:
    """Refuse `--out` equal to an input file or list file, or to one of the run's other files in
    `keep` (what it is -> its path: the model, the config, the labels; names that are no file, such
    as aliases, pass), and `--save` that is an input folder, holds an input file, or lies inside an
    input folder walked recursively (`save_flag`: the flag of that folder, `--out` for a YOLO dataset's).

    Source arguments are compared by their resolved paths; the entries of `@list` files by their
    absolute paths only (no system call per line, so a list of millions stays cheap). Inputs read
    from stdin (`-`) cannot be checked here: `--save` still never replaces a file (see saving.py)."""
    if out is None and save is None:
        return
    if out is not None:
        check_out_name(out)
        for what, path in (keep or {}).items():
            if path is not None and os.path.isfile(str(path)) and _same(out, Path(str(path))):
                raise ConfigError(
                    f"--out {out} is {what}: it would be overwritten", "write the results to another file"
                )
    targets = _Targets(out, save, save_flag)
    base = Path.cwd()
    for arg in args:
        arg = arg.strip()
        if not arg or arg == "-" or "://" in arg:
            continue
        if arg.startswith("@"):
            listing = _absolute(arg[1:], base)
            targets.check(listing, resolve=True, is_list=True)
            for line in _list_entries(Path(listing)):
                targets.check(_absolute(line, Path(listing).parent), resolve=False, recursive=recursive)
        else:
            targets.check(_absolute(arg, base), resolve=True, recursive=recursive)


def check_out_name(out: Path | str, *, folder: bool = False, flag: str = "--out") -> None:
    """Refuse, before any model loads, an --out that would only fail (or surprise) once results come:
    `-` (results go to stdout without --out; here it would make a file or a folder named '-'), and a
    link to nothing where nothing can be made through it (a folder never can: mkdir meets the link)."""
    text = str(out)
    if text == "-":
        what = "a dataset is a folder of files, not a stream" if folder else "it would be a file named '-'"
        hint = "give --out DIR/" if folder else "drop --out: the results go to stdout without it"
        raise ConfigError(f"{flag} -: {what}", hint)
    if not os.path.islink(text) or os.path.exists(text):
        return
    target = os.readlink(text)
    if folder:
        raise ConfigError(f"{flag} {out}: a link to {target}, which does not exist", "give a new or empty folder")
    home = os.path.dirname(os.path.join(os.path.dirname(text), target)) or "."
    if not os.path.isdir(home):
        raise ConfigError(
            f"{flag} {out}: a link to {target}, whose folder {home} does not exist", "give a file in an existing folder"
        )


def _absolute(arg: str, base: Path) -> str:
    return os.path.abspath(os.path.join(base, os.path.expanduser(arg)))


def _list_entries(listing: Path) -> Iterator[str]:
    try:
        if not stat.S_ISREG(os.stat(listing).st_mode):
            return  # a FIFO or device would be consumed (or block) here: it is read once, by the run
        with open(listing, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "@")) and line != "-" and "://" not in line:
                    yield line
    except OSError:
        return  # the run reports it as an error record


class _Targets:
    def __init__(self, out: Path | None, save: Path | None, save_flag: str = "--save") -> None:
        self.out = out
        self.save = save
        self.save_flag = save_flag
        self.out_forms = _forms(out) if out is not None else set()
        self.out_identity = _identity(out) if out is not None else None  # a hard link is the same file
        self.save_forms = _forms(save) if save is not None else set()

    def check(self, path: str, *, resolve: bool, recursive: bool = False, is_list: bool = False) -> None:
        walked, glob = recursive, bool(GLOB_CHARS & set(path)) and not os.path.lexists(path)
        if glob:
            path, walked = _glob_root(path)
        forms = _forms(Path(path)) if resolve else {path}
        same_file = resolve and self.out_identity is not None and _identity(Path(path)) == self.out_identity
        if self.out_forms & forms or same_file:
            what = "a list file of inputs" if is_list else "an input"
            raise ConfigError(
                f"--out {self.out} is {what}: it would be overwritten before it is read",
                "write the results to another file",
            )
        if is_list:
            return
        parents = {os.path.dirname(f) for f in forms}

        def is_folder() -> bool:  # asked of the disk only where it decides
            return glob or os.path.isdir(path)

        keep_apart = "save into a new folder"
        if self.save_forms & forms:
            raise ConfigError(
                f"{self.save_flag} {self.save} is an input folder: its images would mix with the originals", keep_apart
            )
        if self.save_forms & parents and not is_folder():
            raise ConfigError(
                f"{self.save_flag} {self.save} holds the input {path}: its images would mix with the originals",
                keep_apart,
            )
        if walked and _inside_any(self.save_forms, forms) and is_folder():
            raise ConfigError(
                f"{self.save_flag} {self.save} is inside the input folder {path}, which is read "
                "recursively: its images would be read back as inputs",
                "save outside it, or drop -r",
            )
        out_parents = {os.path.dirname(f) for f in self.out_forms}
        out_in_folder = out_parents & forms or (walked and _inside_any(self.out_forms, forms))
        if self.out is not None and out_in_folder and is_image_path(self.out) and is_folder():
            raise ConfigError(
                f"--out {self.out} lies in the input folder {path} with an image's name: it would be "
                "read as an input, or replace one",
                "write the results elsewhere",
            )


def _forms(path: Path) -> set[str]:
    """The absolute path as written and as resolved (symlinks followed): either may match an input."""
    absolute = os.path.abspath(os.path.expanduser(path))
    return {absolute, os.path.realpath(absolute)}


def _identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of an existing regular file: what two names (hard links) of one file share."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _same(a: Path, b: Path) -> bool:
    """One file: by name (as written or resolved), or by identity (a hard link)."""
    return bool(_forms(a) & _forms(b)) or (_identity(a) is not None and _identity(a) == _identity(b))


def _inside_any(targets: set[str], folders: set[str]) -> bool:
    return any(t.startswith(f.rstrip(os.sep) + os.sep) for t in targets for f in folders)


def _glob_root(pattern: str) -> tuple[str, bool]:
    """The fixed folder a glob starts from, and whether it reaches into sub-folders."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if GLOB_CHARS & set(part))
    rest = parts[fixed:]
    return str(Path(*parts[:fixed])), len(rest) > 1 or "**" in rest[0]


def is_regular_target(path: Path) -> bool:
    """A regular file, or a name not taken yet. Devices, FIFOs and anything under /dev or /proc
    get no sidecar and no lock file beside them."""
    if os.path.abspath(path).startswith(("/dev/", "/proc/")):
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return True  # e.g. a file as a parent folder: opening it reports the reason


def make_parent(out: Path) -> None:
    """The folder --out goes in, made if missing; ConfigError with the reason if it cannot be."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"--out {out}: cannot write: {out.parent} is not a folder") from None
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


_held: dict[str, OutputLock] = {}  # the locks this process holds, by the resolved --out path


class OutputLock:
    """An exclusive, non-blocking `flock` on `<out>.lock` for as long as the context lasts, and
    one on the results file itself once it exists: the name lock stops a second run before the
    file is made, the file's own lock (it follows the file's identity, st_dev and st_ino) stops a
    second run that writes the same file under another name (a hard link), whose lock file differs.

    The lock file is removed on the way out when it is ours (it holds `LOCK_MARK`); a file of that
    name the user had is locked but never changed or removed."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = lock_path(Path(os.path.realpath(out)))  # one lock however the file is reached
        self._fd: int | None = None
        self._file_fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        while True:
            make_parent(self.out)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise ConfigError(f"--out {self.out}: cannot write: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise ConfigError(
                    f"--out {self.out} is being written by another run (it holds {self.path})",
                    "wait for that run to end, or write to another file",
                ) from None
            if _same_file(fd, self.path):  # not removed by the run that held it just before us
                break
            os.close(fd)
        if os.fstat(fd).st_size == 0:
            os.write(fd, LOCK_MARK)
        self._fd = fd
        try:
            self.hold_file()
        except BaseException:
            self.release()
            raise
        _held[os.path.realpath(self.out)] = self

    def hold_file(self) -> None:
        """Lock the results file itself, when it exists and is a regular file (done on `acquire`,
        and again by `hold_results_file` once the run has made it)."""
        if self._file_fd is not None:
            return
        try:
            fd = os.open(self.out, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return  # not made yet, or unreadable: the name lock still holds
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                return
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"--out {self.out} is being written by another run, under another name (a hard link to the same file)",
                "wait for that run to end, or write to another file",
            ) from None
        self._file_fd = fd

    def release(self) -> None:
        if _held.get(os.path.realpath(self.out)) is self:
            del _held[os.path.realpath(self.out)]
        if self._file_fd is not None:
            os.close(self._file_fd)
            self._file_fd = None
        if self._fd is None:
            return
        try:
            if os.pread(self._fd, len(LOCK_MARK) + 1, 0) == LOCK_MARK:
                self.path.unlink(missing_ok=True)  # still locked: a run waiting on it re-opens the new one
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None


def hold_results_file(out: Path) -> None:
    """The run has made its results file: its `OutputLock`, if this process holds one, locks the
    file itself now (ConfigError if another run took it first under another name)."""
    lock = _held.get(os.path.realpath(out))
    if lock is not None:
        lock.hold_file()


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
