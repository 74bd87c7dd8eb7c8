"""The detection loop: sources -> decode -> batches -> model -> `ImageResult`s, streamed.

Bad inputs become error records in their place in the order; the loop never stops for
them. A failure that is not the input's (the model fails on a blank image too, or on several
inputs in a row the same way: see `failures.py`) stops it with `ModelFailed`. Nothing is held
beyond one batch and the read-ahead, and the decoded pixels held by both together are bounded
in bytes (`BYTES_IN_FLIGHT`), so memory stays flat however long the run and however large the
images.

Long because the read-ahead threads, the byte budget and the batch loop share state that Ctrl-C must end.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import InputError
from detect_cli.core.results import ImageResult, Timing
from detect_cli.inputs.images import Decoded, ReadOptions, read_decoded
from detect_cli.inputs.live import Claim, LatestFrame, claims
from detect_cli.inputs.sources import IDLE, Source, is_stream, is_video
from detect_cli.inputs.video import Frame, VideoOptions, read_frames
from detect_cli.models.detector import PredictOptions
from detect_cli.pipeline.failures import FailureWatch, blank_image

T = TypeVar("T")
R = TypeVar("R")

# Decoded pixels held at once between reading and the end of their batch: the read-ahead and the batch
# being filled share this, so a batch of 8 photos of 100 MP (300 MB each as BGR) is cut into smaller
# batches instead of holding 16 of them. One image is always allowed, however large (max_pixels bounds
# it), so pixels held stay under this plus one image, plus PIL's copy while one decodes (4 bytes a pixel).
# Measured with 9,999 x 9,999 JPEGs and yolo26n at --imgsz 64 (peak RSS, 0.8 GB of it the model and torch):
# one image 1.4 GB (2.0 before this bound and the strip-wise BGR copy), 12 with --batch 12 3.5 GB (5.3
# before, and growing with the batch), of which up to one batch is the one Ultralytics' predictor keeps
# referenced until its next call.
BYTES_IN_FLIGHT = 1 << 30
_POLL_S = 0.2  # the main thread waits in steps this long, so Ctrl-C is never held up by a read


class Predicts(Protocol):
    """What the engine needs of a model: a `models.Detector`, or a stand-in with the same two members
    (`attention.explaining.ExplainingDetector`). A model may also offer `predict_later(images, options)`
    (start now, return what waits for the results) and `in_flight` (how many such batches it keeps
    running at once): see `_InFlight`."""

    names: dict[int, str]

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]: ...


def read_image(source: Source, options: ReadOptions) -> Decoded:
    """The engine's reader: `images.read_decoded` (pixels and warnings), under the name tests patch."""
    return read_decoded(source, options)


@dataclass
class _Pending:
    index: int
    source: Source
    image: np.ndarray | None = None
    read_ms: float = 0.0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    frame: int | None = None  # a video frame's number, and its time
    time_s: float | None = None
    skipped: int = 0  # a live stream's frames dropped before this one (inputs/live.py)
    claim: Claim | None = None  # a live stream's frame, taken when it is about to run

    @property
    def nbytes(self) -> int:
        return 0 if self.image is None else self.image.nbytes


class ByteBudget:
    """Bytes held by results between a producer thread and the consumer that releases them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._changed = threading.Condition()

    def wait_for_room(self, stop: threading.Event) -> None:
        """Block while the budget is spent (never when nothing is held: one item always fits)."""
        with self._changed:
            while self.held >= self.limit and self.held > 0 and not stop.is_set():
                self._changed.wait(_POLL_S)

    def take(self, nbytes: int) -> None:
        with self._changed:
            self.held += nbytes

    def release(self, nbytes: int) -> None:
        with self._changed:
            self.held -= nbytes
            self._changed.notify_all()


def detect_stream(
    sources: Iterable[Source],
    detector: Predicts,
    options: PredictOptions = PredictOptions(),
    *,
    batch: int = 1,
    read_options: ReadOptions = ReadOptions(),
    skip: Callable[[int, Source], bool] | None = None,
    max_bytes_in_flight: int = BYTES_IN_FLIGHT,
    video: VideoOptions = VideoOptions(),
    frames_done: Mapping[int, int] | None = None,
) -> Iterator[ImageResult]:
    """Yield one `ImageResult` per source, in source order; a video gives one per frame read
    (`video.read_frames`: --vid-stride, the time range, a break as an error record).

    Reading and decoding run one batch ahead in a thread (PIL and torch release the GIL), so
    the next images are ready when the model finishes; memory holds at most two batches, and
    at most `max_bytes_in_flight` of decoded pixels (plus one image): a batch is run early
    rather than exceed it. `skip(index, source)` leaves inputs out (`--resume`) without
    renumbering the others; `frames_done` (index -> last frame written) continues videos after it."""
    budget = ByteBudget(max_bytes_in_flight)
    watch = FailureWatch(lambda: detector.predict([blank_image(options.imgsz)], options))
    pending: list[_Pending] = []
    loaded = held = 0
    done = frames_done or {}

    def jobs() -> Iterator[tuple[int, Source, ReadOptions] | Source]:
        index = 0
        for source in sources:
            if source is IDLE:  # nothing more for now: run what is held (see prefetched_many)
                yield IDLE
                continue
            if skip is None or not skip(index, source):  # skipped inputs keep their place in the numbering
                yield index, source, read_options
            index += 1

    def read(job: tuple[int, Source, ReadOptions]) -> Iterator[_Pending]:
        return load_frames(*job, video, done.get(job[0])) if is_video(job[1].ref) else iter((load(*job),))

    items = prefetched_many(jobs(), read, depth=max(2, batch), budget=budget, weigh=lambda p: p.nbytes)
    flight = _InFlight(detector, options, watch, budget)
    for item in items:
        if item is IDLE:  # the source waits for more: the images held run now, however few
            if pending:
                flight.start(pending, held)
                pending, loaded, held = [], 0, 0
            yield from flight.finish_all()
            continue
        if item.claim is not None:  # a live stream's newest frame, now that it is its turn
            item = _claimed(item)
            if item is None:
                continue
            budget.take(item.nbytes)
        pending.append(item)
        loaded += item.image is not None
        held += item.nbytes
        # start a full batch, or one that fills the byte budget (the reader waits for room: a batch that
        # kept filling would wait for it for ever); start failed inputs at once when no image waits before
        # them (a run of bad or empty files must not pile up in memory, nor delay their records)
        if loaded >= batch or loaded == 0 or held >= budget.limit:
            flight.start(pending, held)
            pending, loaded, held = [], 0, 0
        yield from flight.finish_due()
    if pending:
        flight.start(pending, held)
    yield from flight.finish_all()


class _InFlight:
    """Batches whose inference has started and whose records are not out yet, oldest first.

    A model with `predict_later` (OpenVINO's runner: several inference requests at once) keeps up to
    its `in_flight` batches running while the next ones are read and letterboxed; any other model
    runs each batch when it is started, as before. Their pixels stay in the byte budget until their
    records are out, and while the budget is spent the oldest are finished first, so the reader
    never waits on bytes that only a later batch would release."""

    def __init__(self, detector: Predicts, options: PredictOptions, watch: FailureWatch, budget: ByteBudget) -> None:
        self.detector, self.options, self.watch, self.budget = detector, options, watch, budget
        self._later = getattr(detector, "predict_later", None)
        self._started: deque[tuple[list[_Pending], int, Callable[[], list] | None]] = deque()

    def start(self, pending: list[_Pending], held: int) -> None:
        images = [p.image for p in pending if p.image is not None]
        finish = None
        if self._later is not None and images:
            try:
                finish = self._later(images, self.options)
            except Exception:  # judged image by image when it is finished
                finish = _failed
        self._started.append((pending, held, finish))

    def finish_due(self) -> Iterator[ImageResult]:
        """The records of the oldest batches, while more are running than the model keeps in flight
        or while the byte budget is spent."""
        depth = int(getattr(self.detector, "in_flight", 0)) if self._later is not None else 0
        while self._started and (len(self._started) > depth or self.budget.held >= self.budget.limit):
            yield from self._finish_oldest()

    def finish_all(self) -> Iterator[ImageResult]:
        while self._started:
            yield from self._finish_oldest()

    def _finish_oldest(self) -> Iterator[ImageResult]:
        pending, held, finish = self._started.popleft()
        yield from _run_batch(pending, self.detector, self.options, self.watch, finish)
        self.budget.release(held)


def _failed() -> list:
    raise RuntimeError("the batch could not be started")


def prefetched(
    items: Iterable[T],
    fn: Callable[[T], R],
    depth: int,
    *,
    budget: ByteBudget | None = None,
    weigh: Callable[[R], int] | None = None,
) -> Iterator[R]:
    """`map(fn, items)` computed up to `depth` items ahead in one worker thread, in order: see
    `prefetched_many`, of which this is the one-result-per-item case."""

    def one(item: T) -> Iterator[R]:
        yield fn(item)

    return prefetched_many(items, one, depth, budget=budget, weigh=weigh)


_STOP = object()
_END = object()  # prefetched_many: the last result of one item


def prefetched_many(
    items: Iterable[T],
    fn: Callable[[T], Iterator[R]],
    depth: int,
    *,
    budget: ByteBudget | None = None,
    weigh: Callable[[R], int] | None = None,
) -> Iterator[R]:
    """The results of `fn(item)` for each item (any number per item: a video's frames, or one
    image), computed up to `depth` results ahead of the consumer in one worker thread, in order.

    `items` is iterated here, in the caller's thread; only `fn` runs in the worker. The worker is a
    daemon thread that is never joined: Ctrl-C ends the run at once even while `fn` is blocked (a
    slow download), and the worker is dropped with it. An exception in `fn` is raised here, in
    place of that item's next result. With a `budget`, the worker waits for room before handing
    on each result and takes `weigh(result)` from it; the consumer releases what it is done with.
    An item that is `sources.IDLE` is not run: every result before it is handed on, then the marker."""
    todo: queue.SimpleQueue[T | object] = queue.SimpleQueue()
    done: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()
    stop = threading.Event()
    room = threading.Semaphore(depth)

    def run(item: T) -> Iterator[R]:
        results = fn(item)
        try:
            for result in results:
                while not room.acquire(timeout=_POLL_S):
                    if stop.is_set():
                        return
                yield result
        finally:
            close = getattr(results, "close", None)
            if close:
                close()  # a video's capture is released as soon as the run stops

    def flatten(item: T) -> None:
        for result in run(item):
            if budget is not None:
                budget.wait_for_room(stop)
            if stop.is_set():
                return
            if budget is not None and weigh is not None:
                budget.take(weigh(result))
            done.put((True, result))
        done.put((True, _END))

    worker = threading.Thread(target=_work, args=(todo, done, flatten, stop), name="attn-detect-read", daemon=True)
    worker.start()
    waiting = 0

    def results_of_one() -> Iterator[R]:
        while (result := _next_result(done)) is not _END:
            room.release()
            yield result  # type: ignore[misc]

    try:
        for item in items:
            if item is IDLE:  # the caller's source waits: hand on every result still ahead, then the marker
                while waiting:
                    waiting -= 1
                    yield from results_of_one()
                yield item  # type: ignore[misc]
                continue
            todo.put(item)
            waiting += 1
            if waiting > depth:
                waiting -= 1
                yield from results_of_one()
        while waiting:
            waiting -= 1
            yield from results_of_one()
    finally:
        stop.set()
        todo.put(_STOP)


def _work(todo, done, fn, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Run `fn` (which puts its own results) on each item; an exception is handed to the consumer."""
    while (item := todo.get()) is not _STOP and not stop.is_set():
        try:
            fn(item)
        except BaseException as exc:  # raised in the consumer, in place of the item's next result
            done.put((False, exc))


def _next_result(done: queue.SimpleQueue[tuple[bool, object]]) -> object:
    """The worker's next result (its exception raised here), waiting in short steps so that a
    KeyboardInterrupt reaches the main thread at once, whatever the worker is doing."""
    while True:
        try:
            ok, value = done.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        if not ok:
            raise value  # type: ignore[misc]
        return value


def load(index: int, source: Source, read_options: ReadOptions) -> _Pending:
    start = time.perf_counter()
    try:
        decoded = read_image(source, read_options)
    except InputError as exc:
        return _Pending(index, source, error=str(exc))
    read_ms = (time.perf_counter() - start) * 1e3
    return _Pending(index, source, decoded.pixels, read_ms, warnings=decoded.warnings)


def load_frames(
    index: int, source: Source, options: ReadOptions, video: VideoOptions, after: int | None
) -> Iterator[_Pending]:
    """A video's frames as pendings (in the read-ahead thread: decoding releases the GIL). A live stream
    without `video.buffer` gives claims instead: its newest frame, taken when the batch is made."""
    frames = read_frames(source, video, after=after, max_pixels=options.max_pixels)
    if is_stream(source.ref) and not video.buffer and source.error is None:
        for claim in claims(LatestFrame(frames)):
            yield _Pending(index, source, claim=claim)
        return
    for frame in frames:
        yield _pending_frame(index, source, frame)


def _pending_frame(index: int, source: Source, frame: Frame) -> _Pending:
    return _Pending(
        index,
        source,
        frame.pixels,
        frame.read_ms,
        frame.error,
        frame=frame.number,
        time_s=frame.time_s,
        skipped=frame.skipped,
    )


def _claimed(item: _Pending) -> _Pending | None:
    """The frame a claim stands for; None when the stream ended before it (nothing to run)."""
    assert item.claim is not None
    frame = item.claim.take()
    return None if frame is None else _pending_frame(item.index, item.source, frame)


def _run_batch(
    pending: list[_Pending],
    detector: Predicts,
    options: PredictOptions,
    watch: FailureWatch,
    started: Callable[[], list] | None = None,
) -> Iterator[ImageResult]:
    outputs = iter(_predict(detector, options, pending, watch, started))
    for item in pending:
        if item.image is None:
            yield ImageResult(
                item.source.ref,
                item.index,
                names=detector.names,
                error=item.error,
                name=item.source.name,
                frame=item.frame,
                time_s=item.time_s,
                frames_skipped=item.skipped,
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
            warnings=item.warnings,
            frame=item.frame,
            time_s=item.time_s,
            frames_skipped=item.skipped,
        )


def _predict(
    detector: Predicts,
    options: PredictOptions,
    pending: list[_Pending],
    watch: FailureWatch,
    started: Callable[[], list] | None = None,
) -> list:
    """Predict a batch (or wait for the results of its `started` inference); if it fails, retry one
    by one, so that a batch too big for memory costs nothing and an odd image fails alone (its error
    record), while `watch` stops the run on a failure that is not the image's."""
    items = [p for p in pending if p.image is not None]
    if not items:
        return []
    try:
        outputs = started() if started is not None else detector.predict([p.image for p in items], options)
    except Exception:  # judged image by image below
        pass
    else:
        watch.ok()
        return outputs
    outputs = []
    for item in items:
        try:
            outputs.extend(detector.predict([item.image], options))
        except Exception as exc:
            item.image, item.error = None, f"model failed on this image: {watch.failed(exc, item.source.ref)}"
        else:
            watch.ok()
    return outputs
