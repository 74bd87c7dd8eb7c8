"""The detection loop: sources -> decode -> batches -> model -> `ImageResult`s, streamed.

Bad inputs become error records in their place in the order; the loop never stops for
them. Nothing is held beyond one batch, so memory stays flat however long the run.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from detect_cli.errors import InputError
from detect_cli.images import ReadOptions, read_image
from detect_cli.models import Detector, PredictOptions
from detect_cli.results import ImageResult, Timing
from detect_cli.sources import Source

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Pending:
    index: int
    source: Source
    image: np.ndarray | None = None
    read_ms: float = 0.0
    error: str | None = None


def detect_stream(
    sources: Iterable[Source],
    detector: Detector,
    options: PredictOptions = PredictOptions(),
    *,
    batch: int = 1,
    read_options: ReadOptions = ReadOptions(),
    skip: Callable[[int, Source], bool] | None = None,
) -> Iterator[ImageResult]:
    """Yield one `ImageResult` per source, in source order.

    Reading and decoding run one batch ahead in a thread (PIL and torch release the GIL), so
    the next images are ready when the model finishes; memory holds at most two batches.
    `skip(index, source)` leaves inputs out (`--resume`) without renumbering the others."""
    pending: list[_Pending] = []
    loaded = 0
    jobs = (
        (index, source, read_options)
        for index, source in enumerate(sources)
        if skip is None or not skip(index, source)  # skipped inputs keep their place in the numbering
    )
    for item in prefetched(jobs, lambda job: load(*job), depth=max(2, batch)):
        pending.append(item)
        loaded += item.image is not None
        # flush a full batch; flush failed inputs at once when no image waits before them (a run of
        # bad or empty files must not pile up in memory, nor delay their records)
        if loaded >= batch or loaded == 0:
            yield from _run_batch(pending, detector, options)
            pending, loaded = [], 0
    if pending:
        yield from _run_batch(pending, detector, options)


def prefetched(items: Iterable[T], fn: Callable[[T], R], depth: int) -> Iterator[R]:
    """`map(fn, items)` computed up to `depth` items ahead in one worker thread, in order."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="attn-detect-read") as pool:
        queue: deque[Future[R]] = deque()
        try:
            for item in items:
                queue.append(pool.submit(fn, item))
                if len(queue) > depth:
                    yield queue.popleft().result()
            while queue:
                yield queue.popleft().result()
        finally:
            for future in queue:
                future.cancel()


def load(index: int, source: Source, read_options: ReadOptions) -> _Pending:
    start = time.perf_counter()
    try:
        image = read_image(source, read_options)
    except InputError as exc:
        return _Pending(index, source, error=str(exc))
    return _Pending(index, source, image, (time.perf_counter() - start) * 1e3)


def _run_batch(pending: list[_Pending], detector: Detector, options: PredictOptions) -> Iterator[ImageResult]:
    images = [p.image for p in pending if p.image is not None]
    outputs = iter(_predict(detector, images, options, pending))
    for item in pending:
        if item.image is None:
            yield ImageResult(
                item.source.ref, item.index, names=detector.names, error=item.error, name=item.source.name
            )
            continue
        detections, timing = next(outputs)
        height, width = item.image.shape[:2]
        yield ImageResult(
            item.source.ref,
            item.index,
            detections,
            detector.names,
            width,
            height,
            Timing(item.read_ms, timing.preprocess, timing.inference, timing.postprocess),
            name=item.source.name,
            image=item.image,
        )


def _predict(detector: Detector, images: list[np.ndarray], options: PredictOptions, pending: list[_Pending]) -> list:
    """Predict a batch; if it fails, retry one by one so a single odd image fails alone."""
    try:
        return detector.predict(images, options)
    except Exception:
        pass
    outputs = []
    for item in (p for p in pending if p.image is not None):
        try:
            outputs.extend(detector.predict([item.image], options))
        except Exception as exc:
            item.image, item.error = None, f"model failed on this image: {exc}"
    return outputs
