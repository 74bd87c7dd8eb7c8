"""Draw detections on an image. Annotators never touch files (see `saving.py`).

Labels are placed as supervision's label annotator places them: above the box's top-left corner,
inside or below the box where that would leave the image, moved into the image sideways, and
moved off one another (the most confident label keeps the best place)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detect_cli.core.detections import Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_PAD = 2  # pixels between the text and the edge of its background
MAX_SLIDES = 3  # a label is moved at most this many label heights up or down to get off another one
Rect = tuple[int, int, int, int]


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class (golden-ratio hue steps)."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds (yellow, cyan), white on dark ones."""
    b, g, r = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


@dataclass(frozen=True)
class Label:
    text: str
    rect: Rect  # x1, y1, x2, y2 of its background, x2 and y2 exclusive
    color: tuple[int, int, int]


def place_labels(boxes: np.ndarray, sizes: Sequence[tuple[int, int]], width: int, height: int) -> list[Rect]:
    """One rectangle (x1, y1, x2, y2; x2, y2 exclusive) of the given (w, h) per box, in the order given
    (put the most important first: it gets the best place).

    Each label tries, in turn: above the box's top-left corner, inside its top, below it, inside its
    bottom (then the same at the right edge), then a few label heights up or down. A place is taken
    if it lies in the image without being cut and overlaps no label placed before; places that only
    fit once pushed into the image come next; if every place is taken, the first one is used."""
    placed = np.zeros((len(boxes), 4), np.int64)
    for k, (box, (w, h)) in enumerate(zip(np.nan_to_num(np.asarray(boxes, np.float64)), sizes)):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        spots = [(x, y) for x in (x1, x2 - w) for y in (y1 - h, y1, y2, y2 - h)]
        spots += [(x1, y1 - h + dy * h * step) for step in range(1, MAX_SLIDES + 1) for dy in (-1, 1)]
        rects = [_inside(x, y, w, h, width, height) for x, y in spots]
        fits = [r for (x, y), r in zip(spots, rects) if r[1] == y]  # not pushed up or down to fit
        chosen = next((r for r in [*fits, *rects] if not _overlaps(r, placed[:k])), rects[0])
        placed[k] = chosen
    return [tuple(int(v) for v in r) for r in placed]


def _inside(x: int, y: int, w: int, h: int, width: int, height: int) -> Rect:
    x = max(0, min(x, width - w))  # a label wider than the image starts at its left edge
    y = max(0, min(y, height - h))
    return x, y, x + w, y + h


def _overlaps(rect: Rect, others: np.ndarray) -> bool:
    x1, y1, x2, y2 = rect
    return bool(np.any((others[:, 0] < x2) & (x1 < others[:, 2]) & (others[:, 1] < y2) & (y1 < others[:, 3])))


class BoxAnnotator:
    """Boxes and labels ("circle 0.91"; "#7 circle 0.91" with tracks). `line_width` None: from the picture's
    size; `labels` False: boxes only (--hide-labels); `conf` False: labels without the confidence (--hide-conf)."""

    def __init__(
        self, line_width: int | None = None, font_scale: float | None = None, *, labels: bool = True, conf: bool = True
    ) -> None:
        self.line_width = line_width
        self.font_scale = font_scale
        self.show_labels = labels
        self.show_conf = conf

    def _sizes(self, height: int, width: int) -> tuple[int, float, int]:
        lw = self.line_width or max(1, round((height + width) / 2 * 0.003))
        scale = self.font_scale or max(0.4, lw / 3)
        return lw, scale, max(1, lw // 2)

    def labels(self, shape: tuple[int, ...], detections: Detections, names: dict[int, str]) -> list[Label]:
        """Where `annotate` puts each label, most confident first."""
        height, width = shape[:2]
        _, scale, thickness = self._sizes(height, width)
        ordered = detections.sorted_by_confidence()
        if not self.show_labels:
            return []
        texts = [
            f"{names.get(cls, cls)} {conf:.2f}" if self.show_conf else str(names.get(cls, cls))
            for _, conf, cls in ordered
        ]
        if ordered.track_id is not None:  # --track: "#7 circle 0.91"
            texts = [f"#{t} {text}" if t >= 0 else text for t, text in zip(ordered.track_id.tolist(), texts)]
        sizes = []
        for text in texts:
            (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
            sizes.append((tw + 2 * LABEL_PAD, th + base + 2 * LABEL_PAD))
        rects = place_labels(ordered.xyxy, sizes, width, height)
        return [Label(t, r, class_color(int(c))) for t, r, c in zip(texts, rects, ordered.class_id)]

    def annotate(self, scene: np.ndarray, detections: Detections, names: dict[int, str]) -> np.ndarray:
        out = scene.copy()
        height, width = out.shape[:2]
        lw, scale, thickness = self._sizes(height, width)
        for box, _, cls in detections:  # every box first, so no outline runs across a label
            x1, y1, x2, y2 = box.round().astype(int).tolist()
            cv2.rectangle(out, (x1, y1), (x2, y2), class_color(cls), lw, cv2.LINE_AA)
        for label in reversed(self.labels(out.shape, detections, names)):  # the most confident on top
            draw_label(out, label, scale, thickness)
        return out


def draw_label(image: np.ndarray, label: Label, scale: float, thickness: int) -> None:
    """A label's background and text, in place."""
    x1, y1, x2, y2 = label.rect
    cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), label.color, -1)
    (_, th), _ = cv2.getTextSize(label.text, FONT, scale, thickness)
    cv2.putText(
        image,
        label.text,
        (x1 + LABEL_PAD, y1 + LABEL_PAD + th),
        FONT,
        scale,
        text_color(label.color),
        thickness,
        cv2.LINE_AA,
    )


def draw_count_line(image: np.ndarray, line: Sequence[float], caption: str) -> np.ndarray:
    """--count-line on an annotated frame (in place): the line, and its counts so far beside its start."""
    height, width = image.shape[:2]
    lw = max(2, round((height + width) / 2 * 0.004))
    x1, y1, x2, y2 = (round(v) for v in line)
    cv2.line(image, (x1, y1), (x2, y2), (255, 255, 255), lw + 2, cv2.LINE_AA)
    cv2.line(image, (x1, y1), (x2, y2), (0, 0, 255), lw, cv2.LINE_AA)
    scale = max(0.4, lw / 4)
    (tw, th), base = cv2.getTextSize(caption, FONT, scale, 1)
    rect = _inside(x1 + LABEL_PAD, y1 + LABEL_PAD, tw + 2 * LABEL_PAD, th + base + 2 * LABEL_PAD, width, height)
    draw_label(image, Label(caption, rect, (0, 0, 255)), scale, 1)
    return image


ZONE_COLOUR = (255, 200, 0)  # BGR: a cyan-blue that no class colour is close to for long


def draw_zones(
    image: np.ndarray, zones: Sequence[tuple[str, Sequence[Sequence[float]]]], occupancy: dict[str, dict[str, int]]
) -> np.ndarray:
    """--zone on an annotated frame (in place): each polygon, lightly filled, and a caption at its first
    point with the frame's count in it ("door 3: 2 circle, 1 star")."""
    height, width = image.shape[:2]
    lw = max(1, round((height + width) / 2 * 0.003))
    scale = max(0.4, lw / 3)
    tint = image.copy()
    for _, points in zones:
        cv2.fillPoly(tint, [np.round(np.asarray(points)).astype(np.int32)], ZONE_COLOUR, cv2.LINE_AA)
    cv2.addWeighted(tint, 0.2, image, 0.8, 0, dst=image)
    for name, points in zones:
        polygon = np.round(np.asarray(points)).astype(np.int32)
        cv2.polylines(image, [polygon], True, ZONE_COLOUR, lw, cv2.LINE_AA)
        here = occupancy.get(name, {})
        detail = ", ".join(f"{n} {cls}" for cls, n in sorted(here.items(), key=lambda kv: (-kv[1], kv[0])))
        caption = f"{name} {sum(here.values())}" + (f": {detail}" if detail else "")
        (tw, th), base = cv2.getTextSize(caption, FONT, scale, 1)
        x, y = (int(v) for v in polygon[0])
        rect = _inside(x, y, tw + 2 * LABEL_PAD, th + base + 2 * LABEL_PAD, width, height)
        draw_label(image, Label(caption, rect, ZONE_COLOUR), scale, 1)
    return image


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
