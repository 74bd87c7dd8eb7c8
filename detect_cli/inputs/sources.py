"""Turn command-line source arguments into a stream of `Source` items, in a stable order.

Arguments: image and video files, folders (optionally recursive), globs, http(s) URLs, live streams
(`rtsp://`, `rtmp://`, `webcam:N`), `@list.txt` files with one source per line, and `-` (that list on
stdin). A video is one source; `video.py` reads its frames. Folders are walked one
directory at a time, each listing sorted, so the first image is ready before the tree
has been listed and memory does not grow with the size of the tree.

An argument that yields nothing usable still yields one error record, so that the run ends with
exit 3 rather than a silent 0: an empty argument, a folder that cannot be listed, a folder with no
image in it, a glob that matches none, a malformed URL. Image-named entries that are not regular
files (a FIFO, a device, a broken link) are error records too: opening a FIFO would block for ever.

Long because every kind of source argument is expanded here, in one order, with its own refusals.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TextIO
from urllib.parse import unquote, urlparse, urlsplit

from detect_cli.core.guarded_read import UnreadableFile, not_regular_message, open_stream

IMAGE_SUFFIXES = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp"})
GLOB_CHARS = frozenset("*?[")
URL_SCHEMES = frozenset({"http", "https"})
# .m3u8: an HLS playlist, read by FFmpeg's HLS demuxer (segments over http(s) only; it refuses
# file:// in a remote playlist). Read like a file, to its end: a live playlist runs until it stops.
VIDEO_SUFFIXES = frozenset({".avi", ".m3u8", ".m4v", ".mkv", ".mov", ".mp4", ".webm"})
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps"})
MJPEG_SUFFIXES = frozenset({".mjpg", ".mjpeg"})  # over http(s): a camera's multipart stream, live
WEBCAM_PREFIX = "webcam:"  # webcam:0 is the first camera (OpenCV's index)
MAX_WEBCAM = 9999  # OpenCV takes a C int, and reads indexes from 100 up as a backend's (200: V4L2) plus a camera
MAX_LIST_LINE = 64 * 1024  # a "list file" that is really a binary (or /dev/zero) has no line ends

SkipHandler = Callable[[str, str], None]


@dataclass(frozen=True)
class Source:
    """One input: a local path or a URL. `name` is a relative name used for saved files;
    `error` is set when the argument could not be resolved (it becomes an error record).
    `pixels`: an image given in memory from Python (BGR uint8, `inputs/arrays.py`), read as it is."""

    ref: str
    name: str
    is_url: bool = False
    error: str | None = None
    pixels: Any = field(default=None, repr=False, compare=False)


# Yielded between sources by a source that has nothing ready now (`watch.py`): the engine then runs the
# images it holds instead of waiting to fill a batch. Not an input: it takes no index and gives no record.
IDLE = Source("", "", error="(no input: the source is waiting)")


def is_url(text: str) -> bool:
    """An http(s) URL by its scheme (well-formed or not: `url_problem` says what is wrong with it)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


def url_problem(url: str) -> str | None:
    """Why `url` cannot be fetched, checked before any network use; None for a usable http(s) URL."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsed lazily: "abc" or 99999 raise here
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parts.scheme.lower() not in URL_SCHEMES:
        return "only http:// and https:// URLs are supported"
    if not parts.hostname:
        return "invalid URL: no host name"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "invalid URL: it contains a space or control character (percent-encode it, e.g. %20)"
    return None


def url_name(url: str) -> str:
    name = PurePosixPath(unquote(urlparse(url).path)).name
    return name if Path(name).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES else f"{name or 'image'}.jpg"


def is_stream(ref: str) -> bool:
    """A live source (rtsp/rtmp URL, a webcam, or an http(s) MJPEG camera: a .mjpg/.mjpeg URL): no end,
    no length, read with reconnects."""
    scheme = ref.partition("://")[0].lower()
    if scheme in {"http", "https"}:
        try:
            return Path(urlparse(ref).path).suffix.lower() in MJPEG_SUFFIXES
        except ValueError:
            return False
    return ref.lower().startswith(WEBCAM_PREFIX) or scheme in STREAM_SCHEMES


def is_video(ref: str) -> bool:
    """A video file or URL (by its extension), or a live stream."""
    try:
        path = urlparse(ref).path if "://" in ref else ref
    except ValueError:  # a malformed URL: not a video; reading it reports what is wrong
        return False
    return is_stream(ref) or Path(path).suffix.lower() in VIDEO_SUFFIXES


def stills_only(sources: Iterable[Source], why: str) -> Iterator[Source]:
    """Video inputs as error records saying `why`, where only stills can run: a clear refusal, never
    a table of zeros or a wrong answer."""
    for source in sources:
        if is_video(source.ref) and not source.error:
            source = replace(source, error=why)
        yield source


def stream_problem(ref: str) -> str | None:
    """Why a stream argument cannot be opened, checked before any connection; None if usable."""
    if ref.lower().startswith(WEBCAM_PREFIX):
        number = ref[len(WEBCAM_PREFIX) :]
        if not (number.isascii() and number.isdigit()):
            return f"webcam index must be a number (e.g. {WEBCAM_PREFIX}0)"
        if int(number) > MAX_WEBCAM:
            return f"webcam index {number} is out of range (0 to {MAX_WEBCAM})"
        return None
    try:
        parts = urlsplit(ref)
        _ = parts.port
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if not parts.hostname:
        return "invalid URL: no host name"
    return None


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why an entry that looks like an image file cannot be read as one (it becomes an error record)."""
    try:
        return not_regular_message(os.stat(path).st_mode)
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)" if os.path.islink(path) else "no such file"
    except OSError as exc:
        return f"cannot access: {exc.strerror or exc}"


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_input_path(path: Path) -> bool:
    """An image or a video, by its extension."""
    return path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def iter_sources(
    args: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    stdin: TextIO | None = None,
    on_skip: SkipHandler | None = None,
) -> Iterator[Source]:
    """Expand every argument in order; within an argument, paths come sorted. One string or path is
    one argument (never its characters); anything else that is not a list of them is a TypeError,
    raised by the call itself (the expansion is lazy)."""
    items = source_arguments(args, "iter_sources(args)")
    return _expand_all(items, recursive, stdin, on_skip or (lambda _ref, _why: None))


def _expand_all(items: Iterator[str], recursive: bool, stdin: TextIO | None, skip: SkipHandler) -> Iterator[Source]:
    for arg in items:
        yield from _expand(arg, Path.cwd(), recursive, stdin, skip)


def source_arguments(args: object, argument: str) -> Iterator[str]:
    """`args` as source arguments, lazily: a str or path is one; a list, tuple or other iterable of
    them is each. TypeError naming `argument` for anything else (None, a number, bytes)."""
    if isinstance(args, (str, os.PathLike)):
        return iter([os.fspath(args)])  # type: ignore[list-item]
    if isinstance(args, (bytes, bytearray, dict)) or not isinstance(args, Iterable):
        raise TypeError(f"{argument}: expected a path, folder, glob or URL (or a list of them), got {type_name(args)}")
    return (_argument(item, f"{argument}[{n}]") for n, item in enumerate(args))


def _argument(item: object, argument: str) -> str:
    if not isinstance(item, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected a path, folder, glob or URL, got {type_name(item)}")
    return os.fspath(item)  # type: ignore[return-value]


def type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _expand(arg: str, base: Path, recursive: bool, stdin: TextIO | None, skip: SkipHandler) -> Iterator[Source]:
    arg = arg.strip()
    if not arg:  # `""` would otherwise mean the current directory
        yield Source(arg, arg, error="empty source argument (give a file, folder, glob or URL)")
    elif arg == "-":
        yield from _expand_lines((stdin or sys.stdin), base, recursive, skip)
    elif arg.startswith("@"):
        list_file = base / arg[1:]
        try:
            lines = open_stream(list_file)  # a regular file or a pipe (`@<(find ...)`), never a device
        except UnreadableFile as exc:
            yield Source(arg, arg, error=f"cannot read list file: {exc}")
            return
        try:
            with lines:
                yield from _expand_lines(lines, list_file.parent, recursive, skip)
        except OSError as exc:
            yield Source(arg, arg, error=f"cannot read list file: {exc.strerror or exc}")
    elif is_stream(arg):
        problem = stream_problem(arg)
        yield Source(arg, arg if problem else _stream_name(arg), is_url=True, error=problem)
    elif "://" in arg:
        problem = url_problem(arg)
        yield Source(arg, arg if problem else url_name(arg), is_url=True, error=problem)
    else:
        yield from _expand_path(arg, base, recursive, skip)


def _stream_name(ref: str) -> str:
    """A file name for a stream's annotated video: its host and path, or webcam_N."""
    if ref.lower().startswith(WEBCAM_PREFIX):
        return f"webcam_{ref[len(WEBCAM_PREFIX) :]}.mp4"
    parts = urlsplit(ref)
    return "_".join(p for p in [parts.hostname or "stream", *parts.path.split("/")] if p) + ".mp4"


def _expand_lines(lines: TextIO, base: Path, recursive: bool, skip: SkipHandler) -> Iterator[Source]:
    while line := lines.readline(MAX_LIST_LINE + 1):
        if len(line) > MAX_LIST_LINE and not line.endswith("\n"):
            yield Source(line[:40], line[:40], error=f"list line longer than {MAX_LIST_LINE} characters: not a list")
            return
        line = line.strip()
        if line and not line.startswith("#"):
            if line.startswith("@") or line == "-":
                yield Source(line, line, error="list files cannot include other lists")
            else:
                yield from _expand(line, base, recursive, None, skip)


def _expand_path(arg: str, base: Path, recursive: bool, skip: SkipHandler) -> Iterator[Source]:
    path = Path(arg).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a symlink loop, a path through a file, a folder we may not enter
        yield Source(str(path), path.name, error=f"cannot access: {exc.strerror or exc}")
        return
    if mode is not None and stat.S_ISDIR(mode):
        yield from _expand_folder(path, arg, recursive, skip)
    elif mode is not None and stat.S_ISREG(mode):
        if is_input_path(path) or not path.suffix:
            yield Source(str(path), path.name)
        else:
            skip(arg, f"not an image ({path.suffix} file)")
    elif mode is not None:
        yield Source(str(path), path.name, error=not_regular_message(mode))
    elif os.path.islink(path):
        yield Source(str(path), path.name, error=file_problem(path))
    elif GLOB_CHARS & set(arg):
        yield from _expand_glob(str(path), arg, skip)
    else:
        yield Source(arg, path.name, error="no such file or folder")


def _expand_folder(folder: Path, arg: str, recursive: bool, skip: SkipHandler) -> Iterator[Source]:
    """The folder's images; one error record when it holds none (so a run of it ends with exit 3)."""
    skipped = 0

    def counted(ref: str, why: str) -> None:
        nonlocal skipped
        skipped += 1
        skip(ref, why)

    found = False
    for entry in walk_entries(folder, recursive=recursive, on_skip=counted):
        found = True
        yield Source(str(entry.path), entry.path.relative_to(folder).as_posix(), error=entry.problem)
    if not found:
        others = f"{skipped} other file{'s' if skipped != 1 else ''} skipped" if skipped else "no other files"
        sub = ", -r also searches its sub-folders" if not recursive and _has_subfolders(folder) else ""
        yield Source(arg, folder.name, error=f"no image files in this folder ({others}{sub})")


def _has_subfolders(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(_entry_is(entry, "dir") for entry in it)
    except OSError:
        return False


def _expand_glob(pattern: str, arg: str, skip: SkipHandler) -> Iterator[Source]:
    """Match a glob while walking from its fixed prefix with `walk_entries` (streamed, sorted,
    symlink loops cut), rather than `glob.iglob`, which follows loops and must be sorted whole."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if GLOB_CHARS & set(part))
    root, rest = Path(*parts[:fixed]), "/".join(parts[fixed:])
    matcher = glob_regex(rest)
    found = False
    recursive = "**" in rest or "/" in rest
    for entry in walk_entries(root, recursive=recursive, on_skip=None, all_files=True):
        relative = entry.path.relative_to(root).as_posix()
        hidden = any(part.startswith(".") for part in relative.split("/") if part != ".")  # as glob: * skips dotfiles
        if hidden or not (entry.folder or matcher.fullmatch(relative)):
            continue
        if entry.problem:
            found = True
            yield Source(str(entry.path), relative, error=entry.problem)
        elif is_input_path(entry.path):
            found = True
            yield Source(str(entry.path), relative)
        else:
            skip(str(entry.path), f"not an image ({entry.path.suffix or 'no extension'})")
    if not found:
        yield Source(arg, arg, error="no image files match this pattern")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`**/` matches any number of folders, `*` and `?` stay within one name, `[...]` is a class."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


class Entry(NamedTuple):
    """A file found by `walk_entries`; `problem` says why it cannot be used (an error record)."""

    path: Path
    problem: str | None = None
    folder: bool = False  # the problem is a folder that could not be listed


def walk_images(
    root: Path, *, recursive: bool, on_skip: SkipHandler | None = None, all_files: bool = False
) -> Iterator[Path]:
    """The usable files of `walk_entries`; the others are passed to `on_skip` with their problem."""
    for entry in walk_entries(root, recursive=recursive, on_skip=on_skip, all_files=all_files):
        if entry.problem is None:
            yield entry.path
        elif on_skip:
            on_skip(str(entry.path), entry.problem)


def walk_entries(
    root: Path,
    *,
    recursive: bool,
    on_skip: SkipHandler | None = None,
    all_files: bool = False,
    suffixes: frozenset[str] = frozenset(),
) -> Iterator[Entry]:
    """Image files (or with `all_files`, every regular file) under `root`: each directory's files
    in sorted order, then its sub-folders. Folders that cannot be listed and entries named as images
    (or with one of `suffixes`, e.g. label .txt files) that are not regular files come as entries
    with a problem; other files go to `on_skip`.

    Lists one directory at a time (os.scandir), so it streams over huge trees; symlinked
    folders are followed once (a loop is cut by remembering device and inode)."""
    seen: set[tuple[int, int]] = set()

    def walk(folder: Path) -> Iterator[Entry]:
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                return
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:  # gone since it was listed, or a glob's prefix that does not exist
            return
        except OSError as exc:
            yield Entry(folder, f"cannot list folder: {exc.strerror or exc}", folder=True)
            return
        subdirs = []
        for entry in entries:
            image_named = is_input_path(Path(entry.name)) or Path(entry.name).suffix.lower() in suffixes
            if _entry_is(entry, "dir"):
                subdirs.append(Path(entry.path))
            elif _entry_is(entry, "file"):
                if image_named or all_files:
                    yield Entry(Path(entry.path))
                elif on_skip and not entry.name.startswith("."):
                    on_skip(entry.path, f"not an image ({Path(entry.name).suffix or 'no extension'})")
            elif image_named:  # a FIFO, a device, a broken link: reading it could block or never end
                yield Entry(Path(entry.path), file_problem(entry.path) or "not a regular file")
        if recursive:
            for sub in subdirs:
                yield from walk(sub)

    yield from walk(root)


def _entry_is(entry: os.DirEntry[str], kind: str) -> bool:
    """`DirEntry.is_dir()` / `is_file()` (symlinks followed), False where the check itself fails."""
    try:
        return entry.is_dir() if kind == "dir" else entry.is_file()
    except OSError:
        return False
