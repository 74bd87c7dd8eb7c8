"""Live streams: how far behind real time the frame the model runs is, with the newest-frame reader
(the default) and with --stream-buffer (every frame), on the same camera and model, alternated.

The camera is the shipped clip played at its real rate in a thread (a read waits for the frame's time,
as a camera's does) behind an rtsp:// name, so the engine takes its live-stream path; the model is the
demo model (PyTorch), or a fixed sleep with --model-ms. Lateness is counted when the model starts a
frame, while the camera still sends: the frames it has sent since that one.

    python benchmarks/bench_stream.py [--fps 25] [--seconds 8] [--model-ms 0] [--repeat 2]

Goal (issue 41): the newest-frame reader stays within a frame or two of real time (max lateness <= 2)
whatever the model's speed; with --stream-buffer, lateness grows with the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from detect_cli.inputs.video import Frame, VideoOptions
from detect_cli.models.runtime import cpu_name
from detect_cli.pipeline import engine

CLIP = Path(__file__).resolve().parents[1] / "sample_images" / "video" / "shapes.mp4"


def clip_frames() -> list:
    capture, frames = cv2.VideoCapture(str(CLIP)), []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


class Camera:
    """Sends on its own clock: `sent` is the newest frame due by now, read or not (a reader that
    falls behind reads the frames it missed at once, as from OpenCV's buffer)."""

    def __init__(self, frames: list, fps: float, seconds: float) -> None:
        self.frames, self.fps, self.count, self.start = frames, fps, int(fps * seconds), time.monotonic()

    @property
    def sent(self) -> int:
        return int((time.monotonic() - self.start) * self.fps)

    @property
    def sending(self) -> bool:
        """Still live: once the camera has stopped, no frame is late (none is newer than the last)."""
        return self.sent < self.count

    def __iter__(self) -> Iterator[Frame]:
        self.start = time.monotonic()
        for n in range(self.count):
            time.sleep(max(0.0, self.start + n / self.fps - time.monotonic()))
            pixels = self.frames[n % len(self.frames)].copy()
            pixels[0, 0] = (n % 256, n // 256 % 256, 0)  # the frame's number, read back by the model
            yield Frame(n, n / self.fps, pixels)


class Timed:
    """Wraps the model: records lateness at the start of each prediction."""

    def __init__(self, model, camera: Camera, sleep_s: float) -> None:  # type: ignore[no-untyped-def]
        self.model, self.camera, self.sleep_s, self.late = model, camera, sleep_s, []
        self.names = model.names if model is not None else {0: "x"}

    def predict(self, images, options):  # type: ignore[no-untyped-def]
        number = int(images[0][0, 0, 0]) + 256 * int(images[0][0, 0, 1])
        if self.camera.sending:
            self.late.append(self.camera.sent - number)
        if self.model is None:
            from detect_cli.core.detections import Detections
            from detect_cli.core.results import Timing

            time.sleep(self.sleep_s)
            return [(Detections.empty(), Timing()) for _ in images]
        return self.model.predict(images, options)


def run(buffer: bool, frames: list, args, model) -> tuple[list[int], int]:  # type: ignore[no-untyped-def]
    from detect_cli.inputs.sources import Source
    from detect_cli.models.detector import PredictOptions

    camera = Camera(frames, args.fps, args.seconds)
    engine.read_frames = lambda *a, **k: iter(camera)
    timed = Timed(model, camera, args.model_ms / 1000)
    done = sum(
        1
        for _ in engine.detect_stream(
            [Source("rtsp://bench/live", "live")], timed, PredictOptions(imgsz=320), video=VideoOptions(buffer=buffer)
        )
    )
    return timed.late, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--model-ms", type=float, default=0.0, help="a sleep instead of the demo model")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    model = None
    if not args.model_ms:
        from detect_cli.models.detector import load_detector
        from detect_cli.models.lookup import resolve_model

        model = load_detector(resolve_model("demo"), device="cpu", threads=1)
    frames = clip_frames()
    print(f"CPU: {cpu_name()}, load average before: {os.getloadavg()[0]:.2f}")
    what = "demo (torch, 1 thread)" if model else f"{args.model_ms:g} ms sleep"
    print(f"camera {args.fps:g} frames/s for {args.seconds:g} s; model: {what}")
    for attempt in range(args.repeat):
        for buffer in (False, True):
            late, done = run(buffer, frames, args, model)
            mode = "--stream-buffer" if buffer else "newest frame  "
            print(
                f"[{attempt + 1}] {mode}: {done} frames run, lateness in frames: median {statistics.median(late):g}, "
                f"max {max(late)}, last {late[-1]}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
