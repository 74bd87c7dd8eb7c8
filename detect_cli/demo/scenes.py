"""Deterministic synthetic "shapes" scenes for training and testing the demo detector.

Every scene is a BGR image, 320x320 unless asked for another ``size`` (an int for a square, or
``(width, height)``: 640x480, 1280x720, 480x640): a textured background (colour gradient,
low-frequency blotches, random lines, gaussian noise) with 0-6 shapes from :data:`CLASSES` painted
on top in order, so later shapes occlude earlier ones and shapes may be cut by the image border.

At another size the shapes (and the smallest label kept) scale with the long side over 320: a
detector that sees the whole picture at 320 meets them at the sizes the demo models were trained
on, so a 1280x720 scene tests the picture's shape, not tiny objects (``large_scenes`` does those).
A 320x320 scene is the same, pixel for pixel, as before sizes other than squares existed.

Label quality: while painting, an owner map records which object is visible at each pixel.
An object whose visible fraction is below :data:`MIN_VISIBLE` loses its label, and every kept
label box is tightened to the extent of that object's visible pixels.

Outputs of :func:`write_dataset`:

* ``images/shape_NNNNN.png`` - the images;
* ``labels/shape_NNNNN.txt`` - YOLO labels, ``cls cx cy w h`` normalised to [0, 1];
* ``annotations.json`` - COCO ground truth. **Category ids equal the class index** (0..4,
  the same numbers as the YOLO ``cls`` column), not the 1-based ids that COCO itself uses.
  ``bbox`` is ``[x, y, w, h]`` in pixels and ``area`` is the box area ``w * h``.

Image ``i`` of a dataset is drawn from ``np.random.default_rng([seed, i])``, so it depends only
on ``(seed, i)``: the same seed always gives the same files, whatever ``n_images`` is.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring")
MIN_VISIBLE = 0.5  # an object with less of its area visible is not labelled
MIN_BOX = 6  # labels whose visible box is thinner than this (pixels) are dropped
EMPTY_PROB = 0.05  # fraction of images without any shape
MAX_SHAPES = 6
R_MIN, R_MAX = 6.0, 60.0  # shape "radius" (circumradius) range in pixels
PAD = 64  # shapes are rasterised on a padded canvas so border-cut parts still count
MIN_CONTRAST = 70.0  # minimum BGR distance between a shape and what lies under it

BASE = 320  # the side the shape sizes above are for: the demo models' training size

Box = tuple[int, float, float, float, float]
Size = int | tuple[int, int]  # a square's side, or (width, height)


def wh(size: Size) -> tuple[int, int]:
    """(width, height) of a size given as a side or as (width, height)."""
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"a scene needs a positive width and height, not {width}x{height}")
    return int(width), int(height)


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); '320' -> (320, 320). Raises ValueError naming what it cannot read."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT (e.g. 640x480) or one side (e.g. 320)")
    return (int(parts[0]), int(parts[-1]))


def size_argument(text: str) -> tuple[int, int]:
    """`parse_size` as an argparse type: a bad size is a usage error naming it."""
    import argparse

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shape_scale(size: Size) -> float:
    """How much larger than in a 320x320 scene the shapes are drawn: the long side over 320."""
    return max(wh(size)) / BASE


def _gradient(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Linear blend between two random colours along a random direction."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    theta = rng.uniform(0, 2 * np.pi)
    width, height = wh(size)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    t = np.cos(theta) * xx + np.sin(theta) * yy
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return c0 * (1 - t[..., None]) + c1 * t[..., None]


def _blotches(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Smooth low-frequency colour variation (bilinear-upsampled random grid)."""
    cells = int(rng.integers(2, 7))
    grid = rng.normal(0, rng.uniform(0, 40), (cells, cells, 3)).astype(np.float32)
    return cv2.resize(grid, wh(size), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, size: Size) -> np.ndarray:
    img = np.clip(_gradient(rng, size) + _blotches(rng, size), 0, 255).astype(np.uint8)
    width, height = wh(size)
    low, high = (-(width // 4), -(height // 4)), (width + width // 4, height + height // 4)
    for _ in range(int(rng.integers(0, 9))):
        p0 = tuple(int(v) for v in rng.integers(low, high))
        p1 = tuple(int(v) for v in rng.integers(low, high))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(img, p0, p1, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


def _polygon(cx: float, cy: float, radii: list[float], angle: float) -> np.ndarray:
    """Vertices at evenly spaced angles with the given radii (cycled), as int32 points."""
    n = len(radii)
    a = angle + np.arange(n) * 2 * np.pi / n
    r = np.asarray(radii)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1).round().astype(np.int32)


def _shape_mask(rng: np.random.Generator, cls: int, cx: float, cy: float, r: float, canvas: Size) -> np.ndarray:
    """Binary mask (padded canvas coordinates; ``canvas`` a side or (width, height)) of one shape."""
    width, height = wh(canvas)
    mask = np.zeros((height, width), np.uint8)
    angle = rng.uniform(0, 2 * np.pi)
    name = CLASSES[cls]
    if name == "circle":
        cv2.circle(mask, (round(cx), round(cy)), round(r), 1, -1)
    elif name == "square":
        cv2.fillPoly(mask, [_polygon(cx, cy, [r] * 4, angle)], 1)
    elif name == "triangle":
        cv2.fillPoly(mask, [_polygon(cx, cy, [r] * 3, angle)], 1)
    elif name == "star":
        cv2.fillPoly(mask, [_polygon(cx, cy, [r, r * rng.uniform(0.38, 0.5)] * 5, angle)], 1)
    else:  # ring: hollow, so whatever lies in the hole stays visible
        thickness = max(2, round(r * rng.uniform(0.2, 0.4)))
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(r - thickness / 2)), 1, thickness)
    return mask


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour that differs from (almost) every pixel under and around the shape."""
    sample = under.reshape(-1, 3).astype(np.float32)
    if len(sample) > 400:
        sample = sample[rng.choice(len(sample), 400, replace=False)]
    best, best_bad = None, 2.0
    for _ in range(30):
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        bad = float(np.mean(np.linalg.norm(sample - colour, axis=1) < MIN_CONTRAST)) if len(sample) else 0.0
        if bad < 0.05:
            return colour
        if bad < best_bad:
            best, best_bad = colour, bad
    return best


def _paint_shapes(rng: np.random.Generator, img: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """Paint shapes in place; return their classes, full areas and the visible-owner map."""
    height, width = img.shape[:2]
    scale = shape_scale((width, height))
    pad = round(PAD * max(scale, 1.0))
    owner = np.full((height, width), -1, np.int16)
    classes: list[int] = []
    areas: list[int] = []
    n = 0 if rng.random() < EMPTY_PROB else int(rng.integers(1, MAX_SHAPES + 1))
    for k in range(n):
        cls = int(rng.integers(len(CLASSES)))
        r = float(np.exp(rng.uniform(np.log(R_MIN), np.log(R_MAX)))) * scale
        cx, cy = rng.uniform(0, (width, height)) + pad
        full = _shape_mask(rng, cls, cx, cy, r, (width + 2 * pad, height + 2 * pad))
        mask = full[pad:-pad, pad:-pad].astype(bool)
        if not mask.any():
            continue
        around = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        img[mask] = _contrasting_colour(rng, img[around]).round().astype(np.uint8)
        owner[mask] = k
        classes.append(cls)
        areas.append(int(full.sum()))
    return classes, areas, owner


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Camera-like degradations: slight blur and gaussian noise."""
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    sigma = rng.uniform(0, 12)
    noise = rng.normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def make_scene(rng: np.random.Generator, size: Size = BASE) -> tuple[np.ndarray, list[Box]]:
    """Draw one scene (``size``: a side, or (width, height)); return the BGR uint8 image and labels
    ``(class_id, x1, y1, x2, y2)``.

    Box corners are pixel edges: ``x2``/``y2`` are one past the last visible pixel.
    """
    min_box = MIN_BOX * shape_scale(size)
    img = _background(rng, size)
    classes, areas, owner = _paint_shapes(rng, img)
    labels: list[Box] = []
    for k, (cls, area) in enumerate(zip(classes, areas)):
        ys, xs = np.nonzero(owner == k)
        if len(xs) < MIN_VISIBLE * area:
            continue
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        if min(x2 - x1, y2 - y1) >= min_box:
            labels.append((cls, float(x1), float(y1), float(x2), float(y2)))
    return _finish(rng, img), labels


def _yolo_lines(labels: list[Box], size: Size) -> str:
    width, height = wh(size)
    rows = []
    for cls, x1, y1, x2, y2 in labels:
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        rows.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(rows)


def _coco_annotations(labels: list[Box], image_id: int, first_id: int) -> list[dict]:
    anns = []
    for j, (cls, x1, y1, x2, y2) in enumerate(labels):
        w, h = x2 - x1, y2 - y1
        anns.append(
            {
                "id": first_id + j,
                "image_id": image_id,
                "category_id": cls,
                "bbox": [x1, y1, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
        )
    return anns


def write_dataset(out_dir: Path, n_images: int, seed: int, size: Size = BASE, ext: str = "png") -> Path:
    """Write ``n_images`` scenes (``size``: a side, or (width, height)) with YOLO and COCO labels under
    ``out_dir``; return ``out_dir``.

    ``ext`` is ``"png"`` (lossless, the default) or ``"jpg"`` (quality 95, for small samples).
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in ("jpg", "jpeg") else []
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    width, height = wh(size)
    for i in range(n_images):
        img, labels = make_scene(np.random.default_rng([seed, i]), size)
        stem = f"shape_{i:05d}"
        cv2.imwrite(str(out_dir / "images" / f"{stem}.{ext}"), img, params)
        (out_dir / "labels" / f"{stem}.txt").write_text(_yolo_lines(labels, size))
        images.append({"id": i, "file_name": f"{stem}.{ext}", "width": width, "height": height})
        annotations += _coco_annotations(labels, i, len(annotations) + 1)
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name} for i, name in enumerate(CLASSES)],
    }
    (out_dir / "annotations.json").write_text(json.dumps(coco, indent=1) + "\n")
    return out_dir


def write_data_yaml(train_dir: Path, val_dir: Path, path: Path) -> Path:
    """Write an Ultralytics data YAML pointing at two :func:`write_dataset` folders."""
    lines = [
        f"train: {Path(train_dir).resolve() / 'images'}",
        f"val: {Path(val_dir).resolve() / 'images'}",
        f"nc: {len(CLASSES)}",
        "names:",
    ]
    lines += [f"  {i}: {name}" for i, name in enumerate(CLASSES)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
