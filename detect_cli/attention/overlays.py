"""Write attention overlays: DIR/<image>/<method>.jpg for the whole image (all boxes) and
DIR/<image>/det_NN_<class>_<method>.jpg per detection (its box drawn), optionally the .npy maps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detect_cli.annotate import BoxAnnotator, heat_overlay
from detect_cli.attention.run import ImageAttention
from detect_cli.saving import safe_relative_name


def save_overlays(folder: Path, name: str, image: np.ndarray, result: ImageAttention, *, raw: bool = False) -> Path:
    target = Path(folder) / safe_relative_name(name).with_suffix("")
    target.mkdir(parents=True, exist_ok=True)
    boxes = BoxAnnotator()
    for method, heat in result.image_maps.items():
        cv2.imwrite(
            str(target / f"{method}.jpg"), boxes.annotate(heat_overlay(image, heat), result.detections, result.names)
        )
    for j, (_, _, cls) in enumerate(result.detections):
        label = f"det_{j:02d}_{result.names.get(cls, cls)}"
        for method, maps in result.maps.items():
            overlay = boxes.annotate(heat_overlay(image, maps[j]), result.detections[j], result.names)
            cv2.imwrite(str(target / f"{label}_{method}.jpg"), overlay)
            if raw:
                np.save(target / f"{label}_{method}.npy", maps[j].astype(np.float32))
    return target
