"""Write annotated images under one folder: names mirror the inputs' relative names, never
collide (a second `img.jpg` becomes `img_1.jpg`) and never escape the folder."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

WRITABLE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def safe_relative_name(name: str) -> PurePosixPath:
    """Drop drive letters, absolute roots, `..` and control characters from a relative name."""
    parts = [p for p in re.split(r"[\\/]+", name) if p not in {"", ".", ".."}]
    parts = [re.sub(r"[\x00-\x1f:*?\"<>|]", "_", p) for p in parts] or ["image"]
    path = PurePosixPath(*parts)
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        path = path.with_name(path.name + ".jpg")
    return path


class ImageSaver:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._taken: set[str] = set()

    def path_for(self, name: str) -> Path:
        rel = safe_relative_name(name)
        candidate, n = rel, 0
        while candidate.as_posix().lower() in self._taken:
            n += 1
            candidate = rel.with_name(f"{rel.stem}_{n}{rel.suffix}")
        self._taken.add(candidate.as_posix().lower())
        path = (self.folder / candidate).resolve()
        if not path.is_relative_to(self.folder.resolve()):  # defence in depth: symlinked sub-folders
            raise ValueError(f"refusing to write outside {self.folder}: {path}")
        return path

    def save(self, name: str, image: np.ndarray) -> Path:
        path = self.path_for(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(path.suffix, image)
        if not ok:
            raise OSError(f"cannot encode {path.suffix} image")
        path.write_bytes(encoded.tobytes())
        return path
