"""Shared factories for the unit tests: fake detections and results, small image files."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from detect_cli.core.detections import Detections
from detect_cli.core.results import ImageResult, Timing

NAMES = {0: "person", 1: "car", 2: "dog"}


def make_detections(n: int = 5, seed: int = 0, *, width: int = 640, height: int = 480, classes: int = 3) -> Detections:
    """`n` random but valid boxes inside a `width` x `height` image (x1 < x2, y1 < y2)."""
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, width * 0.7, n)
    y1 = rng.uniform(0, height * 0.7, n)
    w = rng.uniform(4, width * 0.3, n)
    h = rng.uniform(4, height * 0.3, n)
    xyxy = np.stack([x1, y1, x1 + w, y1 + h], axis=1)
    return Detections(xyxy, rng.uniform(0.05, 1.0, n), rng.integers(0, classes, n))


def make_result(
    index: int = 0,
    n: int = 3,
    seed: int | None = None,
    *,
    source: str | None = None,
    error: str | None = None,
    width: int = 640,
    height: int = 480,
    names: dict[int, str] | None = None,
    timing: Timing | None = None,
    detections: Detections | None = None,
) -> ImageResult:
    """An `ImageResult` as the engine yields it: `n` boxes, or an error record when `error` is set."""
    names = dict(NAMES if names is None else names)
    source = source or f"/data/img_{index}.jpg"
    name = Path(source).name
    if error is not None:
        return ImageResult(source, index, names=names, error=error, name=name)
    if detections is None:
        detections = make_detections(n, index if seed is None else seed, width=width, height=height, classes=len(names))
    timing = timing or Timing(read=1.0 + index, preprocess=2.0, inference=10.0 + index, postprocess=0.5)
    return ImageResult(source, index, detections, names, width, height, timing, name=name)


def pattern_rgb(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth (H, W, 3) uint8 RGB image: compresses well as JPEG, so colours survive."""
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    r = (xx * 255 // max(1, width - 1)).astype(np.uint8)
    g = (yy * 255 // max(1, height - 1)).astype(np.uint8)
    b = np.full((height, width), int(rng.integers(0, 256)), np.uint8)
    return np.stack([r, g, b], axis=2)


def image_bytes(image: Image.Image | np.ndarray, fmt: str = "JPEG", **save_kwargs: object) -> bytes:
    """Encode a PIL image (or an RGB/gray array) in memory."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, fmt, **save_kwargs)
    return buf.getvalue()


def jpeg_bytes(height: int = 48, width: int = 64, seed: int = 0, **save_kwargs: object) -> bytes:
    return image_bytes(pattern_rgb(height, width, seed), "JPEG", quality=95, **save_kwargs)


def write_jpeg(path: Path, height: int = 48, width: int = 64, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(height, width, seed))
    return path


def write_png(path: Path, image: Image.Image | np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(image, "PNG"))
    return path


def watch_budget_peak(monkeypatch) -> Callable[[], int]:  # type: ignore[no-untyped-def]
    """Record the most bytes any `engine.ByteBudget` holds from now on; call the result to read it."""
    from detect_cli.pipeline import engine

    peak = 0
    real_take = engine.ByteBudget.take

    def take(self, nbytes: int) -> None:  # type: ignore[no-untyped-def]
        nonlocal peak
        real_take(self, nbytes)
        peak = max(peak, self.held)

    monkeypatch.setattr(engine.ByteBudget, "take", take)
    return lambda: peak


def kill_once_written(cmd: list[str], out: Path, lines: int, timeout: float = 120) -> None:
    """Run `cmd` and SIGKILL it as soon as `out` holds `lines` lines (a crash part-way through a run)."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < lines):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
