"""Images given in memory from Python: NumPy arrays (BGR, as `cv2.imread` gives them) and PIL images.

`python_sources(what)` turns anything `detect_cli.Model` is called on into `Source`s: paths, folders,
globs and URLs as the CLI expands them (`sources.iter_sources`), and in-memory images as sources that
carry their pixels (read as they are, never from disk). A list may mix them, in order. An array that
is not an image (wrong shape or type) is an error record in its place, as an unreadable file is; a
value of a type no source can be is a `TypeError` naming the argument.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import numpy as np

from detect_cli.inputs.sources import SkipHandler, Source, iter_sources, type_name


def is_in_memory(value: object) -> bool:
    """A NumPy array or a PIL image (PIL is only looked at when it is already imported)."""
    if isinstance(value, np.ndarray):
        return True
    image_module = __import__("sys").modules.get("PIL.Image")
    return image_module is not None and isinstance(value, image_module.Image)


def python_sources(
    what: Any,
    *,
    recursive: bool = False,
    max_pixels: int | None = None,
    argument: str = "source",
    stdin: TextIO | None = None,
    on_skip: SkipHandler | None = None,
) -> Iterator[Source]:
    """Every source in `what`, in order: one path/URL/folder/glob (str or Path), one array or PIL image,
    or a list (any iterable) mixing them. Raises TypeError naming `argument` before any is read."""
    if isinstance(what, (str, os.PathLike)) or is_in_memory(what):
        items: list[Any] = [what]
    elif isinstance(what, (bytes, bytearray, dict)) or not isinstance(what, Iterable):
        raise TypeError(
            f"{argument}: expected a path, folder, glob, URL, NumPy array or PIL image (or a list of them), "
            f"got {type_name(what)}"
        )
    else:
        items = list(what)  # the references only: pixels are not copied, and nothing is read yet
    for n, item in enumerate(items):
        if not (isinstance(item, (str, os.PathLike)) or is_in_memory(item)):
            where = argument if len(items) == 1 and items[0] is what else f"{argument}[{n}]"
            expected = "a path, folder, glob, URL, NumPy array or PIL image"
            raise TypeError(f"{where}: expected {expected}, got {type_name(item)}")
    return _expand(items, recursive, max_pixels, stdin, on_skip)


def _expand(
    items: list[Any], recursive: bool, max_pixels: int | None, stdin: TextIO | None, on_skip: SkipHandler | None
) -> Iterator[Source]:
    arrays = 0
    for item in items:
        if is_in_memory(item):
            yield in_memory_source(item, arrays, max_pixels)
            arrays += 1
        else:
            yield from iter_sources([item], recursive=recursive, stdin=stdin, on_skip=on_skip)


def in_memory_source(image: Any, number: int, max_pixels: int | None = None) -> Source:
    """One in-memory image as a source named `image<number>.jpg` (its saved name; `<array N>` its
    reference in records). A NumPy array is taken as BGR (or BGRA, or grey); a PIL image is
    converted from its own mode."""
    kind = "array" if isinstance(image, np.ndarray) else "PIL image"
    ref, name = f"<{kind} {number}>", f"image{number}.jpg"
    try:
        pixels = _bgr(image)
    except ValueError as exc:
        return Source(ref, name, error=f"{exc} (give an (H, W, 3) BGR uint8 image, as cv2.imread returns)")
    height, width = pixels.shape[:2]
    if max_pixels is not None and height * width > max_pixels:
        return Source(ref, name, error=f"{width}x{height} is more than max_pixels ({max_pixels})")
    return Source(ref, name, pixels=pixels)


def _bgr(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        from detect_cli.inputs.images import to_bgr

        return to_bgr(image)
    if image.size == 0 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"not an image: an array of shape {image.shape}")
    if image.dtype != np.uint8:
        if image.dtype.kind not in "uif":
            raise ValueError(f"not an image: an array of {image.dtype}")
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ValueError("not an image: the array holds NaN or infinite values")
        if image.dtype == np.uint16:
            image = image >> 8  # 16-bit, as cv2.imread(path, cv2.IMREAD_UNCHANGED) gives
        elif image.dtype.kind == "f" and float(image.max(initial=0)) <= 1.0:
            image = image * 255.0  # floats in 0..1
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    elif image.shape[2] == 4:
        image = image[..., :3]  # BGRA as OpenCV reads a PNG with alpha: the colour, as cv2.imread(path) gives
    return np.ascontiguousarray(image)
