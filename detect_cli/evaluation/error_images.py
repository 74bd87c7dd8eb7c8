"""Draw one image's verdict: true positives, false detections and labels not found, told apart by
colour and by line (so they read in grey too): true positives thin solid green, false detections
thick solid red with their TIDE type, labels not found dashed orange. A legend bar says which is
which and how many."""

from __future__ import annotations

import cv2
import numpy as np

from detect_cli.evaluation.errors import TRUE_POSITIVE
from detect_cli.evaluation.worst import ImageScore
from detect_cli.outputs.annotate import FONT, LABEL_PAD, Label, draw_label, place_labels

TRUE_COLOUR = (60, 170, 40)  # BGR
FALSE_COLOUR = (40, 40, 230)
MISSED_COLOUR = (0, 165, 255)
PANEL_HEIGHT = 480


def draw_verdict(image: np.ndarray, score: ImageScore, names: dict[int, str], caption: str = "") -> np.ndarray:
    """The image scaled to `PANEL_HEIGHT` with every box of `score` drawn, and a legend below."""
    scale = PANEL_HEIGHT / image.shape[0]
    out = cv2.resize(image, (max(1, round(image.shape[1] * scale)), PANEL_HEIGHT), interpolation=cv2.INTER_AREA)
    lw = max(1, round(sum(out.shape[:2]) / 2 * 0.003))
    dets, truth, verdict = score.detections, score.truth, score.verdict
    boxes, texts, colours = [], [], []
    for t in np.flatnonzero(~verdict.matched):
        box = _on_picture(truth.xyxy[t] * scale, out.shape, lw)
        _dashed_rectangle(out, box, MISSED_COLOUR, lw + 1)
        boxes.append(box)
        texts.append(f"not found: {names.get(int(truth.class_id[t]), truth.class_id[t])}")
        colours.append(MISSED_COLOUR)
    for k, i in enumerate(verdict.order):
        box = _on_picture(dets.xyxy[i] * scale, out.shape, lw)
        x1, y1, x2, y2 = box.round().astype(int).tolist()
        name = names.get(int(dets.class_id[i]), dets.class_id[i])
        if verdict.kind[k] == TRUE_POSITIVE:
            cv2.rectangle(out, (x1, y1), (x2, y2), TRUE_COLOUR, lw, cv2.LINE_AA)
            texts.append(f"{name} {dets.confidence[i]:.2f}")
            colours.append(TRUE_COLOUR)
        else:
            cv2.rectangle(out, (x1, y1), (x2, y2), FALSE_COLOUR, lw + 2, cv2.LINE_AA)
            texts.append(f"{verdict.kind[k]}: {name} {dets.confidence[i]:.2f}")
            colours.append(FALSE_COLOUR)
        boxes.append(box)
    _labels(out, np.array(boxes).reshape(-1, 4), texts, colours)
    counts = (
        f"{verdict.true_positives} true positive(s)",
        f"{verdict.false_detections} false",
        f"{verdict.not_found} not found",
    )
    return np.vstack([_bar(caption or score.name, out.shape[1]), out, _legend(out.shape[1], counts)])


def attention_panel(image: np.ndarray, heat: np.ndarray, box: np.ndarray, text: str) -> np.ndarray:
    """One false detection over the model's attention map (`heat`: [0, 1], the image's size)."""
    from detect_cli.outputs.annotate import heat_overlay

    out = heat_overlay(image, heat)
    scale = PANEL_HEIGHT / out.shape[0]
    out = cv2.resize(out, (max(1, round(out.shape[1] * scale)), PANEL_HEIGHT), interpolation=cv2.INTER_AREA)
    x1, y1, x2, y2 = (np.asarray(box) * scale).round().astype(int).tolist()
    cv2.rectangle(out, (x1, y1), (x2, y2), (255, 255, 255), 5, cv2.LINE_AA)
    cv2.rectangle(out, (x1, y1), (x2, y2), FALSE_COLOUR, 3, cv2.LINE_AA)
    return np.vstack([_bar(text, out.shape[1]), out])


def _labels(image: np.ndarray, boxes: np.ndarray, texts: list[str], colours: list[tuple[int, int, int]]) -> None:
    scale, thickness = 0.45, 1
    sizes = []
    for text in texts:
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
        sizes.append((tw + 2 * LABEL_PAD, th + base + 2 * LABEL_PAD))
    rects = place_labels(boxes, sizes, image.shape[1], image.shape[0])
    for text, rect, colour in zip(texts, rects, colours):
        draw_label(image, Label(text, rect, colour), scale, thickness)


def _on_picture(box: np.ndarray, shape: tuple[int, ...], margin: int) -> np.ndarray:
    """The box clipped to the picture and a margin round it: a box that reaches past the picture is drawn
    as far as it shows (a label box of 1e308 pixels once took its dashes one by one, for ever)."""
    height, width = shape[:2]
    pad = 4 * margin
    return np.clip(np.asarray(box, np.float64), [-pad, -pad, -pad, -pad], [width + pad, height + pad] * 2)


def _dashed_rectangle(image: np.ndarray, box: np.ndarray, colour: tuple[int, int, int], width: int) -> None:
    x1, y1, x2, y2 = box.round().astype(int).tolist()
    dash = max(4, 3 * width)
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(bx - ax), abs(by - ay))
        for start in range(0, length, 2 * dash):
            end = min(start + dash, length)
            p = (ax + (bx - ax) * start // max(length, 1), ay + (by - ay) * start // max(length, 1))
            q = (ax + (bx - ax) * end // max(length, 1), ay + (by - ay) * end // max(length, 1))
            cv2.line(image, p, q, colour, width, cv2.LINE_AA)


def _bar(text: str, width: int) -> np.ndarray:
    bar = np.full((28, width, 3), 32, dtype=np.uint8)
    cv2.putText(bar, text, (6, 20), FONT, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def _legend(width: int, counts: tuple[str, str, str]) -> np.ndarray:
    """Three samples (solid thin, solid thick, dashed) with their counts, wrapped to the width."""
    entries = list(zip(counts, (TRUE_COLOUR, FALSE_COLOUR, MISSED_COLOUR), ("thin", "thick", "dashed")))
    rows: list[list[tuple[str, tuple[int, int, int], str]]] = [[]]
    used = 0
    for entry in entries:
        need = 40 + cv2.getTextSize(entry[0], FONT, 0.5, 1)[0][0] + 16
        if rows[-1] and used + need > width:
            rows.append([])
            used = 0
        rows[-1].append(entry)
        used += need
    bar = np.full((26 * len(rows) + 4, width, 3), 245, dtype=np.uint8)
    for r, row in enumerate(rows):
        x, y = 6, 18 + 26 * r
        for text, colour, style in row:
            if style == "dashed":
                _dashed_rectangle(bar, np.array([x, y - 6, x + 30, y - 6], float), colour, 3)
            else:
                cv2.line(bar, (x, y - 6), (x + 30, y - 6), colour, 2 if style == "thin" else 5, cv2.LINE_AA)
            cv2.putText(bar, text, (x + 36, y), FONT, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
            x += 40 + cv2.getTextSize(text, FONT, 0.5, 1)[0][0] + 16
    return bar
