"""Live streams that keep up: the newest frame, never a queue of old ones (as Ultralytics' LoadStreams
without `stream_buffer`).

A camera sends frames whether or not the model is ready; read one by one, they pile up in OpenCV's and
FFmpeg's buffers and the run falls further behind real time the longer it goes. `LatestFrame` reads a
live source in a thread of its own as fast as it sends, keeps only the newest frame, and counts the ones
it drops; `take()` gives the newest frame not given yet, waiting for the next one if it was. The engine
asks for a frame only when the model is about to run it (`Claim`), so the frame run is at most the one
the camera sent while the model was busy with the previous one. An error frame (the stream lost) is
never dropped: it is the stream's last."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

from detect_cli.inputs.video import Frame

POLL_S = 0.2  # waits are cut into steps this long, so Ctrl-C reaches the caller at once


class LatestFrame:
    def __init__(self, frames: Iterator[Frame]) -> None:
        self._frames = frames
        self._newest: Frame | None = None
        self._dropped = 0
        self._finished = False
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self.skipped = 0  # frames dropped in all
        self._thread = threading.Thread(target=self._pump, name="attn-detect-live", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for frame in self._frames:
                with self._changed:
                    if self._newest is not None:  # never given: dropped for this newer one
                        self._dropped += 1
                        self.skipped += 1
                    self._newest = frame
                    self._changed.notify_all()
                if frame.error is not None or self._stop.is_set():
                    break
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()  # the capture is released in the thread that reads it
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def take(self) -> Frame | None:
        """The newest frame not given yet (waiting for one), with `skipped` set to the frames dropped
        since the last one given; None once the stream has ended and every frame kept was given."""
        with self._changed:
            while self._newest is None and not self._finished:
                self._changed.wait(POLL_S)
            frame, self._newest = self._newest, None
            dropped, self._dropped = self._dropped, 0
        return None if frame is None else replace(frame, skipped=dropped)

    @property
    def finished(self) -> bool:
        with self._changed:
            return self._finished and self._newest is None

    def close(self) -> None:
        """Stop reading (the thread ends at its next frame; a stream that sends none times out)."""
        self._stop.set()


class Claim:
    """A promise of a live stream's next frame, taken when the engine runs it (not when it is queued)."""

    def __init__(self, live: LatestFrame) -> None:
        self.live = live

    def take(self) -> Frame | None:
        return self.live.take()


def claims(live: LatestFrame) -> Iterator[Claim]:
    """Claims for as long as the stream may still give frames; closing this closes the reader."""
    try:
        while not live.finished:
            yield Claim(live)
    finally:
        live.close()
