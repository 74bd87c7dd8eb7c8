"""Write attention overlays: DIR/<image>/<method>.jpg for the whole image (all boxes) and
DIR/<image>/det_NN_<class>_<method>.jpg per detection (its box drawn), optionally the .npy maps.

Each image gets a folder of its own that did not exist before the run: a second `img.jpg` (from
another folder) gets `img_1/`, as `--save` names its files, and a folder left by an earlier run is
never written into."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from detect_cli.attention.maps import resize_map
from detect_cli.attention.run import ImageAttention
from detect_cli.outputs.annotate import BoxAnnotator, heat_overlay
from detect_cli.outputs.image_saver import ImageSaver, safe_relative_name


def overlay_folder(saver: ImageSaver, name: str) -> Path:
    """A fresh folder for one input's overlays: its relative name without the suffix, made unique."""
    # one suffix for all, so img.jpg and img.png do not end up sharing img/
    rel = safe_relative_name(name).with_suffix(".jpg").as_posix()
    while True:
        folder = saver.path_for(rel).with_suffix("")
        if not folder.exists():
            return folder


def save_overlays(folder: Path, name: str, image: np.ndarray, result: ImageAttention, *, raw: bool = False) -> Path:
    """Overlays in FOLDER/<name without suffix>/ (or <name>_1/, ... when that folder exists already)."""
    base = Path(folder) / safe_relative_name(name).with_suffix("")
    target, n = base, 0
    while target.exists():
        n += 1
        target = base.with_name(f"{base.name}_{n}")
    return write_overlays(target, image, result, raw=raw)


def write_overlays(target: Path, image: np.ndarray, result: ImageAttention, *, raw: bool = False) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    boxes = BoxAnnotator()
    height, width = image.shape[:2]
    for method, heat in result.image_maps.items():
        _write(target / f"{method}.jpg", image_overlay(image, heat, result))
    for j, (_, _, cls) in enumerate(result.detections):
        label = f"det_{j:02d}_{_file_safe(str(result.names.get(cls, cls)))}"
        for method, maps in result.maps.items():
            heat = resize_map(maps[j], height, width)  # one at a time: full-size maps of a big image are large
            _write(
                target / f"{label}_{method}.jpg",
                boxes.annotate(heat_overlay(image, heat), result.detections[j], result.names),
            )
            if raw:
                np.save(target / f"{label}_{method}.npy", heat)
    return target


def image_overlay(image: np.ndarray, heat: np.ndarray, result: ImageAttention) -> np.ndarray:
    """A whole-image map over the image, with every box (also a frame of a video's overlay video)."""
    overlay = heat_overlay(image, resize_map(heat, *image.shape[:2]))
    return BoxAnnotator().annotate(overlay, result.detections, result.names)


def _write(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(path.suffix, image)
    if not ok:
        raise OSError(f"cannot encode {path.name}")
    path.write_bytes(encoded.tobytes())


def _file_safe(text: str) -> str:
    """A class name as part of a file name (models name classes freely: 'traffic/light', '..')."""
    return re.sub(r"[^\w.-]+", "_", text).strip(".") or "class"
