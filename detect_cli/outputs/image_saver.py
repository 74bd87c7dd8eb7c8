"""Write annotated images under one folder: names mirror the inputs' relative names, never
collide (a second `img.jpg` becomes `img_1.jpg`), never replace a file that was there before
the run (it gets a free name the same way) and never escape the folder."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

WRITABLE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".mp4"})  # mp4: videos
# File systems allow 255 bytes per name; leave room for the `_N` of a collision and `_attention`.
MAX_NAME_BYTES = 180


class SaveRefused(ValueError):
    """This image cannot be saved where its name points (the run goes on without it)."""


def safe_relative_name(name: str) -> PurePosixPath:
    """Drop drive letters, absolute roots, `..` and control characters from a relative name;
    shorten names too long for a file system (a hash of the full name keeps them apart)."""
    parts = [p for p in re.split(r"[\\/]+", name) if p not in {"", ".", ".."}]
    parts = [re.sub(r"[\x00-\x1f:*?\"<>|]", "_", p) for p in parts] or ["image"]
    path = PurePosixPath(*parts)
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        path = path.with_name(path.name + ".jpg")
    folders = [_shorten(p, "") for p in path.parent.parts]
    return PurePosixPath(*folders, _shorten(path.stem, path.suffix) + path.suffix)


def _shorten(stem: str, suffix: str) -> str:
    if len((stem + suffix).encode()) <= MAX_NAME_BYTES:
        return stem
    digest = hashlib.sha256((stem + suffix).encode()).hexdigest()[:10]
    keep = MAX_NAME_BYTES - len(suffix.encode()) - len(digest) - 1
    return stem.encode()[:keep].decode("utf-8", "ignore") + "~" + digest


class ImageSaver:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._taken: set[str] = set()

    def reserve(self, name: str) -> None:
        """Take the name an image got in an earlier part of this run (`--resume`), without looking
        at the disk: that file is the earlier run's, and later names must come out as in one run."""
        self._taken.add(self._next_free(safe_relative_name(name), on_disk=False).as_posix().lower())

    def path_for(self, name: str) -> Path:
        """A name no other image of this run has and no file in the folder has (so nothing is replaced)."""
        candidate = self._next_free(safe_relative_name(name), on_disk=True)
        self._taken.add(candidate.as_posix().lower())
        path = (self.folder / candidate).resolve()
        if not path.is_relative_to(self.folder.resolve()):  # a symlinked sub-folder pointing elsewhere
            raise SaveRefused(f"{candidate.parent} inside {self.folder} leads outside it (a symlink?)")
        return path

    def _next_free(self, rel: PurePosixPath, *, on_disk: bool) -> PurePosixPath:
        candidate, n = rel, 0
        while candidate.as_posix().lower() in self._taken or (on_disk and os.path.lexists(self.folder / candidate)):
            n += 1
            candidate = rel.with_name(f"{rel.stem}_{n}{rel.suffix}")
        return candidate

    def save(self, name: str, image: np.ndarray) -> Path:
        """Write the image; OSError or SaveRefused when this one image cannot be written."""
        try:
            ok, encoded = cv2.imencode(safe_relative_name(name).suffix, image)
        except cv2.error as exc:  # e.g. larger than the format allows (WebP: 16383 px)
            raise OSError(f"cannot encode it: {str(exc).strip().splitlines()[-1]}") from None
        if not ok:
            raise OSError(f"cannot encode {safe_relative_name(name).suffix} image")
        while True:
            path = self.path_for(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # exclusive create: a file that appeared since the check is not replaced either
                fh = open(path, "xb")
            except FileExistsError:
                continue
            try:
                with fh:
                    fh.write(encoded.tobytes())
            except OSError:
                path.unlink(missing_ok=True)  # ours, half written (disk full): leave nothing broken behind
                raise
            return path
