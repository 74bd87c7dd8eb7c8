"""inputs/live.py: a slow consumer of a fast live source gets the newest frame, not a queue of old ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from detect_cli.inputs.live import LatestFrame, claims
from detect_cli.inputs.video import Frame

FPS = 50.0  # a frame every 20 ms: a loaded machine's scheduling hiccups stay under two frames


class Camera:
    """Frames at FPS in real time (a read blocks until the next frame is due, as a camera's does);
    `sent` is the number of the newest frame sent so far."""

    def __init__(self, frames: int, fail_at: int | None = None) -> None:
        self.frames, self.fail_at, self.sent, self.closed = frames, fail_at, -1, False
        self.start = time.monotonic()

    def __iter__(self) -> Iterator[Frame]:
        try:
            for n in range(self.frames):
                time.sleep(max(0.0, self.start + n / FPS - time.monotonic()))
                if n == self.fail_at:
                    yield Frame(n, n / FPS, error="stream lost")
                    return
                self.sent = n
                yield Frame(n, n / FPS, np.full((4, 4, 3), n % 256, np.uint8))
        finally:
            self.closed = True


def test_a_slow_reader_stays_within_a_frame_or_two_of_real_time() -> None:
    camera = Camera(80)  # 1.6 s at 50 frames/s
    live = LatestFrame(iter(camera))
    behind, taken, skipped = [], [], 0
    while (frame := live.take()) is not None:
        behind.append(camera.sent - frame.number)  # frames the camera sent since this one, when it is run
        taken.append(frame.number)
        skipped += frame.skipped
        time.sleep(0.1)  # a model five times slower than the camera
    assert taken == sorted(taken) and len(set(taken)) == len(taken)
    assert max(behind) <= 2, behind  # not a queue growing behind real time
    assert taken[-1] == 79 and skipped + len(taken) == 80  # every frame given or counted as skipped
    assert skipped > 50
    assert camera.closed


def test_a_fast_reader_gets_every_frame_and_the_error_last() -> None:
    live = LatestFrame(iter(Camera(20, fail_at=12)))
    frames = []
    while (frame := live.take()) is not None:
        frames.append(frame)
    assert [f.number for f in frames] == list(range(13))
    assert frames[-1].error == "stream lost" and sum(f.skipped for f in frames) == 0


def test_claims_end_with_the_stream_and_closing_them_stops_the_reader() -> None:
    live = LatestFrame(iter(Camera(5)))
    got = [frame.number for claim in claims(live) if (frame := claim.take()) is not None]
    assert got == list(range(5))
    camera = Camera(10_000)
    live = LatestFrame(iter(camera))
    stream = claims(live)
    assert next(stream).take() is not None
    stream.close()
    deadline = time.monotonic() + 5
    while not camera.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert camera.closed and not any(t.name == "attn-detect-live" and t.is_alive() for t in threading.enumerate())


class SlowModel:
    def __init__(self) -> None:
        self.names = {0: "thing"}

    def predict(self, images, options):  # type: ignore[no-untyped-def]
        from detect_cli.core.detections import Detections
        from detect_cli.core.results import Timing

        time.sleep(0.1)
        return [(Detections.empty(), Timing()) for _ in images]


def test_the_engine_runs_a_live_stream_at_real_time_and_counts_what_it_skipped(monkeypatch) -> None:
    """detect_stream on a fake rtsp:// camera at 50 frames/s with a model at 10: each frame run is
    within two frames of the newest one sent when the model starts it; --stream-buffer runs every frame."""
    from detect_cli.inputs.sources import Source
    from detect_cli.inputs.video import VideoOptions
    from detect_cli.pipeline import engine
    from detect_cli.pipeline.run_summary import RunSummary

    cameras: list[Camera] = []
    length = {"frames": 80}

    def fake_read_frames(source, options, after=None, max_pixels=None):  # type: ignore[no-untyped-def]
        cameras.append(Camera(length["frames"]))
        return iter(cameras[-1])

    monkeypatch.setattr(engine, "read_frames", fake_read_frames)
    behind = []

    class Watching(SlowModel):
        def predict(self, images, options):  # type: ignore[no-untyped-def]
            behind.append(cameras[-1].sent - int(images[0][0, 0, 0]))  # the frame's number is in its pixels
            return super().predict(images, options)

    summary = RunSummary()
    for result in engine.detect_stream([Source("rtsp://camera/live", "live")], Watching()):
        summary.add(result)
    stats = summary.videos["rtsp://camera/live"]
    assert max(behind) <= 2, behind
    assert stats.frames + stats.frames_skipped == 80 and stats.frames_skipped > 50
    assert summary.as_dict()["videos"]["rtsp://camera/live"]["frames_skipped"] == stats.frames_skipped

    length["frames"] = 20
    every = RunSummary()
    for result in engine.detect_stream(
        [Source("rtsp://camera/live", "live")], SlowModel(), video=VideoOptions(buffer=True)
    ):
        every.add(result)
    assert every.videos["rtsp://camera/live"].frames == 20 and every.videos["rtsp://camera/live"].frames_skipped == 0


def test_an_http_mjpeg_camera_is_read_at_its_newest_frame() -> None:
    """A real MJPEG camera over HTTP (multipart/x-mixed-replace at 50 frames/s, served here), through
    OpenCV's FFmpeg: a model slower than the camera runs the newest frames and the rest are counted."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import cv2

    from detect_cli.inputs.sources import Source
    from detect_cli.inputs.video import VideoOptions
    from detect_cli.pipeline.engine import detect_stream
    from detect_cli.pipeline.run_summary import RunSummary

    sent = {"frame": -1, "served": 0}

    class MJPEG(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            sent["served"] += 1
            if sent["served"] > 1:  # the camera is gone once its 60 frames are sent
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            start = time.monotonic()
            for n in range(60):
                time.sleep(max(0.0, start + n / FPS - time.monotonic()))
                jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), n * 4, np.uint8))[1].tobytes()
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                try:
                    self.wfile.write(head + jpeg + b"\r\n")
                except OSError:
                    return
                sent["frame"] = n

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), MJPEG)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    behind = []

    class Watching(SlowModel):
        def predict(self, images, options):  # type: ignore[no-untyped-def]
            behind.append(sent["frame"] - round(float(images[0].mean()) / 4))  # the frame's number, from its grey
            return super().predict(images, options)

    url = f"http://127.0.0.1:{server.server_address[1]}/cam.mjpg"
    summary = RunSummary()
    try:
        live = VideoOptions(reconnects=0)  # the end of the stream is its end here
        for result in detect_stream([Source(url, "cam.mjpg", is_url=True)], Watching(), video=live):
            summary.add(result)
    finally:
        server.shutdown()
    stats = summary.videos[url]
    assert stats.error is not None and "stream lost" in stats.error
    assert stats.frames_skipped > 20 and stats.frames + stats.frames_skipped >= 55  # the end may cut a frame
    assert sorted(behind)[len(behind) // 2] <= 2  # FFmpeg's own read-ahead may hold a frame or two
