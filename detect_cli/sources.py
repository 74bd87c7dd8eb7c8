"""Turn command-line source arguments into a stream of `Source` items, in a stable order.

Arguments: image files, folders (optionally recursive), globs, http(s) URLs, `@list.txt`
files with one source per line, and `-` (that list on stdin). Folders are walked one
directory at a time, each listing sorted, so the first image is ready before the tree
has been listed and memory does not grow with the size of the tree.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO
from urllib.parse import unquote, urlparse

IMAGE_SUFFIXES = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp"})
GLOB_CHARS = frozenset("*?[")

SkipHandler = Callable[[str, str], None]


@dataclass(frozen=True)
class Source:
    """One input: a local path or a URL. `name` is a relative name used for saved files;
    `error` is set when the argument could not be resolved (it becomes an error record)."""

    ref: str
    name: str
    is_url: bool = False
    error: str | None = None


def is_url(text: str) -> bool:
    return "://" in text and urlparse(text).scheme.lower() in {"http", "https"}


def url_name(url: str) -> str:
    name = PurePosixPath(unquote(urlparse(url).path)).name
    return name if Path(name).suffix.lower() in IMAGE_SUFFIXES else f"{name or 'image'}.jpg"


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def iter_sources(
    args: Iterable[str],
    *,
    recursive: bool = False,
    stdin: TextIO | None = None,
    on_skip: SkipHandler | None = None,
) -> Iterator[Source]:
    """Expand every argument in order; within an argument, paths come sorted."""
    skip = on_skip or (lambda _ref, _why: None)
    for arg in args:
        yield from _expand(arg, Path.cwd(), recursive, stdin, skip)


def _expand(arg: str, base: Path, recursive: bool, stdin: TextIO | None, skip: SkipHandler) -> Iterator[Source]:
    arg = arg.strip()
    if arg == "-":
        yield from _expand_lines((stdin or sys.stdin), base, recursive, skip)
    elif arg.startswith("@"):
        list_file = base / arg[1:]
        try:
            with open(list_file, encoding="utf-8") as lines:
                yield from _expand_lines(lines, list_file.parent, recursive, skip)
        except OSError as exc:
            yield Source(arg, arg, error=f"cannot read list file: {exc.strerror or exc}")
    elif "://" in arg:
        if is_url(arg):
            yield Source(arg, url_name(arg), is_url=True)
        else:
            yield Source(arg, arg, is_url=True, error="only http:// and https:// URLs are supported")
    else:
        yield from _expand_path(arg, base, recursive, skip)


def _expand_lines(lines: Iterable[str], base: Path, recursive: bool, skip: SkipHandler) -> Iterator[Source]:
    for line in lines:
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
    if path.is_dir():
        for file in walk_images(path, recursive=recursive, on_skip=skip):
            yield Source(str(file), file.relative_to(path).as_posix())
    elif path.is_file():
        if is_image_path(path) or not path.suffix:
            yield Source(str(path), path.name)
        else:
            skip(arg, f"not an image ({path.suffix} file)")
    elif GLOB_CHARS & set(arg):
        yield from _expand_glob(str(path), arg, skip)
    else:
        yield Source(arg, path.name, error="no such file or folder")


def _expand_glob(pattern: str, arg: str, skip: SkipHandler) -> Iterator[Source]:
    """Match a glob while walking from its fixed prefix with `walk_images` (streamed, sorted,
    symlink loops cut), rather than `glob.iglob`, which follows loops and must be sorted whole."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if GLOB_CHARS & set(part))
    root, rest = Path(*parts[:fixed]), "/".join(parts[fixed:])
    matcher = glob_regex(rest)
    found = False
    recursive = "**" in rest or "/" in rest
    for path in walk_images(root, recursive=recursive, on_skip=None, all_files=True):
        relative = path.relative_to(root).as_posix()
        hidden = any(part.startswith(".") for part in relative.split("/"))  # as glob: * skips dotfiles
        if hidden or not matcher.fullmatch(relative):
            continue
        if is_image_path(path):
            found = True
            yield Source(str(path), relative)
        else:
            skip(str(path), f"not an image ({path.suffix or 'no extension'})")
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


def walk_images(
    root: Path, *, recursive: bool, on_skip: SkipHandler | None = None, all_files: bool = False
) -> Iterator[Path]:
    """Image files (or with `all_files`, every file) under `root`: each directory's files in
    sorted order, then its sub-folders.

    Lists one directory at a time (os.scandir), so it streams over huge trees; symlinked
    folders are followed once (a loop is cut by remembering device and inode)."""
    seen: set[tuple[int, int]] = set()

    def walk(folder: Path) -> Iterator[Path]:
        try:
            stat = folder.stat()
            if (stat.st_dev, stat.st_ino) in seen:
                return
            seen.add((stat.st_dev, stat.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if on_skip:
                on_skip(str(folder), f"cannot list folder: {exc.strerror or exc}")
            return
        subdirs = []
        for entry in entries:
            if entry.is_dir():
                subdirs.append(Path(entry.path))
            elif is_image_path(Path(entry.name)) or (all_files and entry.is_file()):
                yield Path(entry.path)
            elif on_skip and entry.is_file() and not entry.name.startswith("."):
                on_skip(entry.path, f"not an image ({Path(entry.name).suffix or 'no extension'})")
        if recursive:
            for sub in subdirs:
                yield from walk(sub)

    yield from walk(root)
