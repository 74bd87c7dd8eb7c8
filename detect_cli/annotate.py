"""Draw detections on an image. Annotators never touch files (see `saving.py`)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from detect_cli.detections import Detections


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class (golden-ratio hue steps)."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


class BoxAnnotator:
    def __init__(self, line_width: int | None = None, font_scale: float | None = None) -> None:
        self.line_width = line_width
        self.font_scale = font_scale

    def annotate(self, scene: np.ndarray, detections: Detections, names: dict[int, str]) -> np.ndarray:
        out = scene.copy()
        height, width = out.shape[:2]
        lw = self.line_width or max(1, round((height + width) / 2 * 0.003))
        scale = self.font_scale or max(0.4, lw / 3)
        for box, conf, cls in detections:
            x1, y1, x2, y2 = box.round().astype(int).tolist()
            color = class_color(cls)
            cv2.rectangle(out, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
            label = f"{names.get(cls, cls)} {conf:.2f}"
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, lw // 2))
            ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
            cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base // 2), color, -1)
            cv2.putText(out, label, (x1 + 1, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                        max(1, lw // 2), cv2.LINE_AA)  # fmt: skip
        return out


def captioned(image: np.ndarray, caption: str, height: int = 480) -> np.ndarray:
    """Resize to `height` and put a caption bar on top."""
    scale = height / image.shape[0]
    panel = cv2.resize(image, (max(1, round(image.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    bar = np.full((28, panel.shape[1], 3), 32, dtype=np.uint8)
    cv2.putText(bar, caption, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def side_by_side(panels: list[np.ndarray], per_row: int = 3, gap: int = 4) -> np.ndarray:
    """Panels of equal height in rows of `per_row`, padded to a rectangle."""
    rows = [panels[i : i + per_row] for i in range(0, len(panels), per_row)]
    width = max(sum(p.shape[1] for p in row) + gap * (len(row) - 1) for row in rows)
    lines = []
    for row in rows:
        pieces = []
        for n, panel in enumerate(row):
            if n:
                pieces.append(np.zeros((panel.shape[0], gap, 3), np.uint8))
            pieces.append(panel)
        line = np.hstack(pieces)
        lines.append(np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0))))
    return np.vstack(lines)


def heat_overlay(scene: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] map over the image with the JET colour map (red = most attention)."""
    colours = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(colours, alpha, scene, 1 - alpha, 0)
