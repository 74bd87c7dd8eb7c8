"""Pure array work on attention maps: splatting sampling points, undoing the letterbox, and the
per-detection figures (peak, share of mass inside the box)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Maps are kept at most this size: they hold far less detail (C2PSA: a 20 x 20 grid at imgsz 640,
# RT-DETR: splatted on 256, LayerCAM: stride-8 features), and a 12 MP image's maps at full size
# took 48 MB each (10 GB for 100 detections with --method both).
MAP_LONGEST = 640


def map_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the maps of a (height x width) image."""
    scale = min(1.0, MAP_LONGEST / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def splat(points_xy: np.ndarray, weights: np.ndarray, height: int, width: int, sigma: float) -> np.ndarray:
    """Deposit weights at normalised (x, y) points on a (height, width) grid (bilinear), then blur.

    Points outside [0, 1] carry no weight: the model's sampling there reads zero padding."""
    grid = np.zeros((height + 1, width + 1), dtype=np.float64)
    x = points_xy[:, 0] * width - 0.5
    y = points_xy[:, 1] * height - 0.5
    inside = (x > -1) & (x < width) & (y > -1) & (y < height)
    x, y, w = x[inside], y[inside], weights[inside]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(grid, (np.clip(y0 + dy, 0, height), np.clip(x0 + dx, 0, width)), w * share)
    out = grid[:height, :width].astype(np.float32)
    return cv2.GaussianBlur(out, (0, 0), sigma) if sigma > 0 else out


def unletterbox(heat: np.ndarray, orig_hw: tuple[int, int], out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A map over the letterboxed network input back onto the original image (Ultralytics' LetterBox:
    scale by the smaller ratio, keep at least one pixel per side, centre, pad), at `out_hw` (default:
    the image's size)."""
    in_h, in_w = heat.shape
    h0, w0 = orig_hw
    gain = min(in_h / h0, in_w / w0)
    new_w, new_h = max(round(w0 * gain), 1), max(round(h0 * gain), 1)  # a 1 x 5000 image stays 1 row high
    left, top = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
    top, left = min(max(top, 0), in_h - 1), min(max(left, 0), in_w - 1)
    return resize_map(heat[top : top + new_h, left : left + new_w], *(out_hw or orig_hw))


def resize_map(heat: np.ndarray, height: int, width: int) -> np.ndarray:
    """A float32 map scaled to (height, width) (bilinear)."""
    if heat.shape == (height, width):
        return heat.astype(np.float32, copy=False)
    return cv2.resize(heat.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)


def normalise(heat: np.ndarray) -> np.ndarray:
    heat = np.clip(np.nan_to_num(heat.astype(np.float32)), 0, None)
    peak = float(heat.max())
    return heat / peak if peak > 0 else heat


@dataclass(frozen=True)
class MapFigures:
    peak_xy: tuple[float, float]
    mass_in_box: float


def figures(heat: np.ndarray, box: np.ndarray, image_hw: tuple[int, int] | None = None) -> MapFigures:
    """Where the map peaks (image pixels), and the share of its mass inside the box (image pixels).
    `image_hw`: the image's size when the map is smaller (`map_size`)."""
    sy, sx = (heat.shape[0] / image_hw[0], heat.shape[1] / image_hw[1]) if image_hw else (1.0, 1.0)
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    total = float(heat.sum())
    x1, y1, x2, y2 = (round(float(v) * s) for v, s in zip(box, (sx, sy, sx, sy)))
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)  # a box thinner than a pixel still covers one
    inside = float(heat[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)].sum())
    peak = ((x + 0.5) / sx - 0.5, (y + 0.5) / sy - 0.5)  # the centre of the peak's map pixel
    return MapFigures((float(peak[0]), float(peak[1])), inside / total if total > 0 else 0.0)


def top_fraction_mask(heat: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the `fraction` of pixels with the highest values."""
    flat = heat.ravel()
    k = max(1, round(fraction * flat.size))
    idx = np.argpartition(-flat, k - 1)[:k]
    mask = np.zeros(flat.size, dtype=bool)
    mask[idx] = True
    return mask.reshape(heat.shape)
