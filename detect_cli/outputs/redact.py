"""Hide boxes in a picture (--redact): the whole box, so nothing of what was inside can be read back.

- fill: the box painted black;
- pixelate: the box cut into blocks (at most `PIXEL_BLOCKS` across its longer side, at least
  `MIN_BLOCK` pixels each), each one the mean colour of its pixels;
- blur: a box blur as wide as half the box, run three times (close to a Gaussian whose spread is
  about a quarter of the box): edges and text inside are gone, only the broad colours stay.

As supervision's Blur/Pixelate annotators: settings given once, `apply(scene, boxes)` returns a new
picture and never touches files."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detect_cli.core.choices import REDACT_STYLES

PIXEL_BLOCKS = 8
MIN_BLOCK = 4
BLUR_PASSES = 3
FILL_COLOUR = (0, 0, 0)


@dataclass(frozen=True)
class Redactor:
    style: str = "blur"

    def __post_init__(self) -> None:
        if self.style not in REDACT_STYLES:
            raise ValueError(f"redact style must be one of {', '.join(REDACT_STYLES)}, got {self.style!r}")

    def apply(self, scene: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """A copy of `scene` with every box (x1, y1, x2, y2 in pixels) hidden; boxes are clipped to the
        picture and widened to whole pixels, so a box's every partly covered pixel is hidden too."""
        out = scene.copy()
        for x1, y1, x2, y2 in pixel_boxes(boxes, out.shape[1], out.shape[0]):
            region = out[y1:y2, x1:x2]
            if region.size:
                region[...] = self._hidden(region)
        return out

    def _hidden(self, region: np.ndarray) -> np.ndarray:
        if self.style == "fill":
            return np.broadcast_to(np.array(FILL_COLOUR[: region.shape[2]] if region.ndim == 3 else 0), region.shape)
        if self.style == "pixelate":
            return pixelate(region)
        return blur(region)


def pixel_boxes(boxes: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Float boxes as whole-pixel slices (x1, y1, x2, y2; x2, y2 exclusive) covering them, in the picture."""
    boxes = np.nan_to_num(np.asarray(boxes, np.float64).reshape(-1, 4))
    x1 = np.clip(np.floor(boxes[:, 0]), 0, width).astype(int)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, height).astype(int)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, width).astype(int)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, height).astype(int)
    return [(a, b, max(a, c), max(b, d)) for a, b, c, d in zip(x1.tolist(), y1.tolist(), x2.tolist(), y2.tolist())]


def pixelate(region: np.ndarray) -> np.ndarray:
    """Blocks of the mean colour (INTER_AREA averages each block), scaled back up without smoothing."""
    height, width = region.shape[:2]
    block = max(MIN_BLOCK, -(-max(height, width) // PIXEL_BLOCKS))
    small = cv2.resize(region, (max(1, -(-width // block)), max(1, -(-height // block))), interpolation=cv2.INTER_AREA)
    blocks = np.repeat(np.repeat(small, block, axis=0), block, axis=1)
    return blocks[:height, :width].reshape(region.shape)


def blur(region: np.ndarray) -> np.ndarray:
    height, width = region.shape[:2]
    size = max(3, max(height, width) // 2) | 1
    out = region
    for _ in range(BLUR_PASSES):
        out = cv2.blur(out, (size, size), borderType=cv2.BORDER_REPLICATE)
    return out.reshape(region.shape)
