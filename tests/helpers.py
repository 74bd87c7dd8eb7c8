"""Shared factories for the unit tests: fake detections and results, small image files."""

from __future__ import annotations

import io
import threading
import time
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


class FakeRequest:
    """An OpenVINO inference request that runs in a thread: it reads its input's value (`value_of`),
    sleeps `delay(value)` seconds and gives `output(value)`, or raises from `wait()` for a value in
    `fail_on`. Requests of one `FakeCompiled` finish in whatever order their delays say."""

    def __init__(self, model: FakeCompiled) -> None:
        self.model = model
        self._thread: threading.Thread | None = None
        self._out: np.ndarray | None = None
        self._error: Exception | None = None

    def start_async(self, inputs: dict) -> None:
        assert self._thread is None or not self._thread.is_alive(), "a running request was reused"
        model, value = self.model, self.model.value_of(np.asarray(inputs[0]))
        self._out, self._error = None, None

        def run() -> None:
            time.sleep(model.delay(value))
            with model.lock:
                model.running -= 1
                model.finished.append(value)
            if value in model.fail_on:
                self._error = RuntimeError(f"inference failed on input {value:g}")
            else:
                self._out = model.output(value)

        with model.lock:
            model.started.append(value)
            model.running += 1
            model.most_running = max(model.most_running, model.running)
        self._thread = threading.Thread(target=run)
        self._thread.start()

    def wait(self) -> None:
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error

    def get_output_tensor(self, index: int):  # type: ignore[no-untyped-def]
        class Tensor:
            data = self._out

        return Tensor()


class FakeCompiled:
    """A compiled model whose requests are `FakeRequest`s; it counts what they did (started, finished
    in order of finishing, most running at once, requests created)."""

    def __init__(
        self,
        delay: Callable[[float], float] = lambda v: 0.0,
        fail_on: tuple[float, ...] = (),
        *,
        value_of: Callable[[np.ndarray], float] = lambda t: float(t.flat[0]),
        output: Callable[[float], np.ndarray] = lambda v: np.full((1, 3, 6), v, dtype=np.float32),
    ) -> None:
        self.delay, self.fail_on, self.value_of, self.output = delay, fail_on, value_of, output
        self.lock = threading.Lock()
        self.running = self.most_running = self.requests = 0
        self.started: list[float] = []
        self.finished: list[float] = []

    def create_infer_request(self) -> FakeRequest:
        self.requests += 1
        return FakeRequest(self)
