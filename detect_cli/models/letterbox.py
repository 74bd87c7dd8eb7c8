"""Ultralytics' pre- and post-processing for a static export, in NumPy and OpenCV (no torch).

What its predictors do for an exported (fixed-size) YOLO26 or RT-DETR model, step for step, so that
the torch-free runtime (`openvino_direct`) gives the boxes Ultralytics gives:

- YOLO26 (`DetectionPredictor`): `LetterBox(imgsz, auto=False)`: scaled to fit, centred, padded with
  114; the end-to-end head gives [300, 6] rows (x1, y1, x2, y2, score, class) in input pixels, kept
  where score > conf (and the class is wanted), the first max_det, scaled back and clipped
  (`ops.scale_boxes`).
- RT-DETR (`RTDETRPredictor`): stretched to the square (`scale_fill=True`); the decoder gives its
  top-k rows (cx, cy, w, h, score, class) normalised to the input, filtered the same way, scaled by
  the original width and height.

Either runs at the square (`imgsz` x `imgsz`) or at the picture's own aspect (`input_hw(...,
rect=True)`): the smallest stride multiple that holds the image scaled to fit, as `LetterBox(auto=True)`
makes it for a `.pt` model (half the pixels for a 2:1 frame). RT-DETR is stretched to that rectangle,
as it is stretched to the square (`predict(imgsz=(h, w))` does the same in Ultralytics).

tests/models/test_letterbox.py checks each against Ultralytics' own code on odd shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Placement:
    """How an image was put into the network's input: its size there and the padding before it."""

    orig_hw: tuple[int, int]
    input_hw: tuple[int, int]
    resized_wh: tuple[int, int]
    top: int
    left: int


def input_hw(orig_hw: tuple[int, int], imgsz: int, *, stride: int, rect: bool) -> tuple[int, int]:
    """The network input for an image of `orig_hw`: the square, or (rect) the rectangle
    `LetterBox(imgsz, auto=True, stride=stride)` pads it to (each side the scaled side plus its padding
    modulo the stride)."""
    if not rect:
        return imgsz, imgsz
    h, w = orig_hw
    r = min(imgsz / h, imgsz / w)
    new_h, new_w = max(round(h * r), 1), max(round(w * r), 1)
    return new_h + (imgsz - new_h) % stride, new_w + (imgsz - new_w) % stride


def place(orig_hw: tuple[int, int], input_hw: tuple[int, int], *, stretch: bool) -> tuple[Placement, int, int]:
    """Where `LetterBox.get_params` (auto=False, centred, scale-up allowed) puts an image; also the
    bottom and right padding."""
    h, w = orig_hw
    if stretch:
        return Placement(orig_hw, input_hw, (input_hw[1], input_hw[0]), 0, 0), 0, 0
    r = min(input_hw[0] / h, input_hw[1] / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)  # a thin image keeps at least 1 pixel
    dw, dh = (input_hw[1] - new_w) / 2, (input_hw[0] - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return Placement(orig_hw, input_hw, (new_w, new_h), top, left), bottom, right


def letterbox(image: np.ndarray, input_hw: tuple[int, int], *, stretch: bool) -> tuple[np.ndarray, Placement]:
    """The image as the network sees it (H, W, 3 uint8, still BGR), and where it sits there."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    placement, bottom, right = place(image.shape[:2], input_hw, stretch=stretch)
    if (image.shape[1], image.shape[0]) != placement.resized_wh:
        image = cv2.resize(image, placement.resized_wh, interpolation=cv2.INTER_LINEAR)
    if placement.top or bottom or placement.left or right:
        image = cv2.copyMakeBorder(
            image, placement.top, bottom, placement.left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
        )
    return image, placement


def to_input(boxed: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) float32 RGB in 0..1, as Ultralytics' `preprocess` makes it from BGR uint8."""
    rgb = boxed[..., ::-1].transpose(2, 0, 1)
    return (np.ascontiguousarray(rgb, dtype=np.float32) / np.float32(255))[None]


def select(rows: np.ndarray, conf: float, classes: tuple[int, ...] | None, max_det: int) -> np.ndarray:
    """Rows (N, 6) with score > conf and a wanted class, the first max_det in the model's own order."""
    keep = rows[:, 4] > conf
    if classes is not None:
        keep &= np.isin(rows[:, 5], np.asarray(classes, dtype=rows.dtype))
    return rows[keep][:max_det]


def scale_to_original(xyxy: np.ndarray, placement: Placement) -> np.ndarray:
    """`ops.scale_boxes`: input pixels back to the original image (padding off, per-axis gain), clipped."""
    (h, w), (in_h, in_w) = placement.orig_hw, placement.input_hw
    gain = min(in_h / h, in_w / w)
    new_h, new_w = max(round(h * gain), 1), max(round(w * gain), 1)
    gain_y, gain_x = new_h / h, new_w / w
    pad_x, pad_y = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
    boxes = xyxy.astype(np.float32, copy=True)
    boxes[:, [0, 2]] -= pad_x
    boxes[:, [1, 3]] -= pad_y
    boxes[:, [0, 2]] /= gain_x
    boxes[:, [1, 3]] /= gain_y
    return clip(boxes, placement.orig_hw)


def clip(xyxy: np.ndarray, orig_hw: tuple[int, int]) -> np.ndarray:
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, orig_hw[1])
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, orig_hw[0])
    return xyxy


def decode_yolo_end2end(
    rows: np.ndarray, placement: Placement, conf: float, classes: tuple[int, ...] | None, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xyxy in the original image, confidence, class id) from YOLO26's end-to-end head output [N, 6]."""
    kept = select(rows, conf, classes, max_det)
    return scale_to_original(kept[:, :4], placement), kept[:, 4].copy(), kept[:, 5].astype(np.int64)


def decode_rtdetr(
    rows: np.ndarray, placement: Placement, conf: float, classes: tuple[int, ...] | None, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same from RT-DETR's top-k queries (cx, cy, w, h normalised, score, class): `RTDETRPredictor`
    scales them by the original size; they are clipped here, as `detector._convert` clips its boxes."""
    kept = select(rows, conf, classes, max_det)
    cx, cy, bw, bh = (kept[:, i] for i in range(4))
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    h, w = placement.orig_hw
    xyxy[:, [0, 2]] *= w
    xyxy[:, [1, 3]] *= h
    return clip(xyxy, placement.orig_hw), kept[:, 4].copy(), kept[:, 5].astype(np.int64)
