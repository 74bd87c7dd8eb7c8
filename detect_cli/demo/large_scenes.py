"""Large "shapes" scenes for sliced inference: drone-photo sizes (1920x1920, 3000x2000) with many
small shapes (10-40 px across) on the textured backgrounds of `scenes.py`, at the same texture
scale (blotches, lines and noise as a 320-px scene has them, repeated over the larger area).

The demo models were trained on 320-px scenes with shapes of 12-120 px: a whole 1920-px scene shrunk
to 320 makes these shapes 2-7 px, below what the model can see, while a 320-px tile shows them at
their own size. Labels follow `scenes.py`'s rules (visible fraction, boxes tightened to the visible
pixels); shapes are painted in small patches, so a 3000 x 2000 scene takes a fraction of a second.

`write_large_dataset` writes the same layout as `scenes.write_dataset` (images/, labels/ with YOLO
txt, annotations.json with category id = class index); image `i` depends only on `(seed, i)`.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from detect_cli.demo.scenes import CLASSES, MIN_BOX, MIN_VISIBLE, _contrasting_colour, _shape_mask

LARGE_SIZES: tuple[tuple[int, int], ...] = ((1920, 1920), (3000, 2000))  # (width, height), used in turn
R_MIN, R_MAX = 5.0, 20.0  # circumradius: shapes 10-40 px across
TILE = 320  # the texture scale of `scenes.py`
SHAPES_PER_TILE = (2.0, 4.0)  # shapes per 320 x 320 area, drawn per scene
DENSE = (8.0, 10.0)  # `--density dense`: a 3000 x 2000 scene holds 450-600 shapes, over a per-image cap of 300
LINES_PER_TILE = 4.0

Box = tuple[int, float, float, float, float]


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A global gradient, blotches and lines at the 320-px scene's scale."""
    c0, c1 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    xx = np.linspace(0, np.cos(theta), width, dtype=np.float32)[None, :]
    yy = np.linspace(0, np.sin(theta), height, dtype=np.float32)[:, None]
    t = xx + yy
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    cells = (max(2, round(width / TILE * rng.uniform(2, 7))), max(2, round(height / TILE * rng.uniform(2, 7))))
    grid = rng.normal(0, rng.uniform(0, 40), (cells[1], cells[0], 3)).astype(np.float32)
    img += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    lines = rng.poisson(LINES_PER_TILE * width * height / TILE**2)
    for _ in range(lines):
        p0 = rng.uniform(0, (width, height))
        p1 = p0 + rng.uniform(-TILE, TILE, 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(
            img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, int(rng.integers(1, 4)), cv2.LINE_AA
        )
    return img


def _paint(
    rng: np.random.Generator,
    img: np.ndarray,
    density: tuple[float, float] = SHAPES_PER_TILE,
) -> tuple[list[int], list[int], list[tuple[int, int, int, int]], np.ndarray]:
    """Paint shapes in place, each in its own patch; return classes, full areas, patches, owner map."""
    height, width = img.shape[:2]
    owner = np.full((height, width), -1, np.int32)
    classes, areas, patches = [], [], []
    n = rng.poisson(rng.uniform(*density) * width * height / TILE**2)
    for k in range(n):
        cls = int(rng.integers(len(CLASSES)))
        r = float(np.exp(rng.uniform(np.log(R_MIN), np.log(R_MAX))))
        half = int(np.ceil(r)) + 2
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        x0, y0 = int(cx) - half, int(cy) - half
        side = 2 * half + 1
        full = _shape_mask(rng, cls, cx - x0, cy - y0, r, side)  # patch coordinates
        px0, py0, px1, py1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        mask = full[py0 - y0 : py1 - y0, px0 - x0 : px1 - x0].astype(bool)
        if not mask.any():
            continue
        region = img[py0:py1, px0:px1]
        around = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        region[mask] = _contrasting_colour(rng, region[around]).round().astype(np.uint8)
        owner[py0:py1, px0:px1][mask] = len(classes)
        classes.append(cls)
        areas.append(int(full.sum()))
        patches.append((px0, py0, px1, py1))
    return classes, areas, patches, owner


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """`scenes._finish` in float32 and in place (a 3000 x 2000 scene in float64 would take 150 MB)."""
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    noisy = img.astype(np.float32)
    noisy += rng.normal(0, rng.uniform(0, 12), img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)


def make_large_scene(
    rng: np.random.Generator, width: int = 1920, height: int = 1920, density: tuple[float, float] = SHAPES_PER_TILE
) -> tuple[np.ndarray, list[Box]]:
    """One scene: the BGR image and labels `(class_id, x1, y1, x2, y2)` (x2/y2 one past the last pixel);
    `density`: the range the scene's mean number of shapes per 320 x 320 area is drawn from."""
    img = _background(rng, width, height)
    classes, areas, patches, owner = _paint(rng, img, density)
    labels: list[Box] = []
    for k, (cls, area, (px0, py0, px1, py1)) in enumerate(zip(classes, areas, patches)):
        ys, xs = np.nonzero(owner[py0:py1, px0:px1] == k)
        if len(xs) < MIN_VISIBLE * area:
            continue
        x1, y1, x2, y2 = px0 + int(xs.min()), py0 + int(ys.min()), px0 + int(xs.max()) + 1, py0 + int(ys.max()) + 1
        if min(x2 - x1, y2 - y1) >= MIN_BOX:
            labels.append((cls, float(x1), float(y1), float(x2), float(y2)))
    return _finish(rng, img), labels


def write_large_dataset(
    out_dir: Path,
    n_images: int,
    seed: int,
    ext: str = "png",
    quality: int = 95,
    sizes: tuple[tuple[int, int], ...] = LARGE_SIZES,
    density: tuple[float, float] = SHAPES_PER_TILE,
) -> Path:
    """Write `n_images` large scenes (sizes taken in turn) in `scenes.write_dataset`'s layout."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in ("jpg", "jpeg") else []
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(n_images):
        width, height = sizes[i % len(sizes)]
        img, labels = make_large_scene(np.random.default_rng([seed, i]), width, height, density)
        stem = f"large_{i:05d}"
        cv2.imwrite(str(out_dir / "images" / f"{stem}.{ext}"), img, params)
        (out_dir / "labels" / f"{stem}.txt").write_text(_yolo_lines(labels, width, height))
        images.append({"id": i, "file_name": f"{stem}.{ext}", "width": width, "height": height})
        for cls, x1, y1, x2, y2 in labels:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": cls,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name} for i, name in enumerate(CLASSES)],
    }
    (out_dir / "annotations.json").write_text(json.dumps(coco, indent=1) + "\n")
    return out_dir


def _yolo_lines(labels: list[Box], width: int, height: int) -> str:
    return "".join(
        f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} "
        f"{(y2 - y1) / height:.6f}\n"
        for cls, x1, y1, x2, y2 in labels
    )
