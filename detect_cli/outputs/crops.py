"""--save-crop DIR: each box's own pixels as a file of its own, laid out as Ultralytics' save_crop lays
them out, one folder per class: DIR/<class>/<image>_<index>.<the image's suffix>, and
DIR/<class>/<video>_f<frame>_<index>.jpg for a video's frames. `index` is the box's place in the
image's record (its `detections` list), so a crop leads back to its record. Files are created
exclusively through `ImageSaver`: a name already taken (by this run or by a file that was there)
gets `_1`, `_2`, ... and nothing is replaced."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np

from detect_cli.core.results import ImageResult
from detect_cli.outputs.image_saver import ImageSaver
from detect_cli.outputs.redact import pixel_boxes

CROP_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


class CropSaver:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._saver = ImageSaver(self.folder)

    def save(self, result: ImageResult, image: np.ndarray, skip: np.ndarray | None = None) -> list[Path]:
        """Write a crop of every box of `result` (clipped to the picture; a box with no pixel in it gives
        none) from `image`, the original pixels; `skip` (a mask, one per box) leaves boxes out (the
        redacted ones). OSError or SaveRefused at the first crop that cannot be written."""
        height, width = image.shape[:2]
        stem, suffix = crop_stem(result), crop_suffix(result)
        written = []
        for index, (x1, y1, x2, y2) in enumerate(pixel_boxes(result.detections.xyxy, width, height)):
            if (skip is not None and skip[index]) or x2 <= x1 or y2 <= y1:
                continue
            folder = _folder_name(result.class_name(int(result.detections.class_id[index])))
            written.append(self._saver.save(f"{folder}/{stem}_{index}{suffix}", image[y1:y2, x1:x2]))
        return written


def crop_stem(result: ImageResult) -> str:
    """The input's relative name without its suffix, folders joined by '_' (every crop of a class sits
    in one folder), and the frame number for a video's frame."""
    name = PurePosixPath(re.sub(r"[\\/]+", "/", result.name or Path(result.source).name or "image"))
    parts = [p for p in (*name.parent.parts, name.stem) if p not in {"", ".", "..", "/"}]
    stem = "_".join(parts).strip("_") or "image"
    return stem if result.frame is None else f"{stem}_f{result.frame:06d}"


def crop_suffix(result: ImageResult) -> str:
    """The input's own format for a still (a PNG's crops are lossless), JPEG for video frames and the rest."""
    suffix = PurePosixPath(result.name or result.source).suffix.lower()
    return suffix if result.frame is None and suffix in CROP_SUFFIXES else ".jpg"


def _folder_name(class_name: str) -> str:
    """A class name as one folder name: no separators, no '..', nothing a file system refuses."""
    cleaned = re.sub(r"[\\/\x00-\x1f:*?\"<>|]", "_", class_name).strip().strip(".")
    return cleaned or "_"
