"""Read a video file, an http(s) video URL or a live stream as a sequence of `Frame`s, for the engine.

OpenCV's FFmpeg backend decodes (it releases the GIL, so the engine's read-ahead thread overlaps
decoding with inference); one frame is held at a time here, so memory does not grow with the
length of the video. Every video is treated as hostile:

- a file that cannot be opened is one error record (frame None);
- a file that ends before the frame count its container declares (truncated, or a frame that
  will not decode) gives the frames read so far, then one error record naming the frame where
  it broke;
- a live stream (`rtsp://`, `rtmp://`, `webcam:N`) that stops sending is re-opened up to
  `reconnects` times, `reconnect_wait_s` apart (frame numbers go on), then ends with an error
  record; URLs and streams open and read under `timeout_s`.

`--vid-stride N` keeps frames `first, first+N, ...` where `first` is the first frame in the time
range; `--resume` continues after the last frame already written (`after`), seeking rather than
decoding what is skipped. A frame's `time_s` is its own timestamp, and `--start`/`--end` compare
with it: in a variable-frame-rate video (phones record them) frame n is not at n / fps.
A video that opens but gives no frame at all (cut after its header, a failed download of its
data) is one error record, never an empty result.

Long because files, URLs and live streams share one frame reader, with their time ranges and checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from detect_cli.core.errors import ConfigError, amount
from detect_cli.inputs.playlists import playlist_problem
from detect_cli.inputs.sources import WEBCAM_PREFIX, Source, file_problem, is_stream

# A container may declare a frame or two more than it holds (an estimate from its duration): a
# video that ends this close to the declared count has ended, not broken.
COUNT_SLACK = 2
TIME_EPS = 1e-6  # seconds: a frame's time and --start/--end compare as equal this close
_NO_FRAME = "no frame could be decoded (the video is truncated or corrupt, or its frames are missing)"
_NO_FRAME_AFTER_START = (
    "no frame could be decoded from --start on (the time range may start after the video's "
    "end, or the video is truncated or corrupt there)"
)


@dataclass(frozen=True)
class VideoOptions:
    stride: int = 1
    start_s: float = 0.0
    end_s: float | None = None  # exclusive; None: to the end
    reconnects: int = 3  # live streams only
    reconnect_wait_s: float = 2.0
    timeout_s: float = 15.0  # opening, and each read, of a URL or stream
    buffer: bool = False  # live streams: every frame (True), or the newest one, dropping the rest (inputs/live.py)

    def __post_init__(self) -> None:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ConfigError(
                f"--end {self.end_s:g} is not after --start {self.start_s:g}", "give a time range that holds frames"
            )

    def fingerprint(self) -> dict[str, object]:
        """What changes which frames a results file holds (checked by --resume); only what differs
        from the defaults, so results files of image runs keep resuming as before."""
        values = {"vid_stride": self.stride, "start_s": self.start_s, "end_s": self.end_s}
        defaults = {"vid_stride": 1, "start_s": 0.0, "end_s": None}
        return {k: v for k, v in values.items() if v != defaults[k]}


@dataclass(frozen=True)
class Frame:
    """One decoded frame (pixels), or the error that ended the video there (`number` None when the
    video could not be opened at all)."""

    number: int | None
    time_s: float | None
    pixels: np.ndarray | None = None
    error: str | None = None
    read_ms: float = 0.0
    skipped: int = 0  # a live stream's frames dropped just before this one, to keep up (inputs/live.py)


def read_frames(
    source: Source, options: VideoOptions = VideoOptions(), *, after: int | None = None, max_pixels: int | None = None
) -> Iterator[Frame]:
    """The frames to process, in order; see the module docstring for errors and streams. A video
    whose frames are over `max_pixels` (the images' limit) is one error record, none decoded."""
    if source.error:
        yield Frame(None, None, error=source.error)
        return
    if is_stream(source.ref):
        yield from _stream_frames(source.ref, options, max_pixels)
        return
    if not source.is_url and (problem := local_problem(source.ref)):
        yield Frame(None, None, error=problem)
        return
    capture = _open(source.ref, options)
    if capture is None:
        yield Frame(None, None, error=_cannot_open(source))
        return
    try:
        if problem := _too_large(capture, max_pixels):
            yield Frame(None, None, error=problem)
            return
        yield from _file_frames(capture, options, after)
    finally:
        capture.release()


def local_problem(path: str) -> str | None:
    """Why a local video file must not be opened: not a regular file, or a playlist that would
    loop or block FFmpeg (`playlists.py`)."""
    problem = file_problem(path)
    if problem is None and path.lower().endswith((".m3u8", ".m3u")):
        problem = playlist_problem(path)
    return problem


def _too_large(capture: cv2.VideoCapture, max_pixels: int | None) -> str | None:
    if max_pixels is None:
        return None
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height <= max_pixels:
        return None
    return (
        f"video frames are {width}x{height} = {amount(width * height / 1e6)} MP, over the "
        f"{amount(max_pixels / 1e6)} MP limit (raise max_pixels in the config to allow it)"
    )


def frames_to_run(path: str, options: VideoOptions = VideoOptions(), after: int | None = None) -> int | None:
    """How many frames of a video file `read_frames` will give (from its container's header, after
    the stride, the time range and `after`), or None when the container does not say. For progress.
    Like `read_frames`, it opens regular files only: a FIFO would block, and lose what the run reads."""
    if local_problem(path):
        return 1  # one error record
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return 1  # one error record
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if declared <= 0:
            return None
        first, end = _frame_range(options, _fps(capture))
        number = _next_frame(first, options.stride, after)
        end = declared if end is None else min(end, declared)
        return max(0, math.ceil((end - number) / options.stride))
    finally:
        capture.release()


def _frame_range(options: VideoOptions, fps: float) -> tuple[int, int | None]:
    """The first frame of the time range and the frame it ends before (None: the video's end)."""
    first = math.ceil(options.start_s * fps - 1e-9) if fps else 0
    end = math.ceil(options.end_s * fps - 1e-9) if fps and options.end_s is not None else None
    return first, end


def _next_frame(first: int, stride: int, after: int | None) -> int:
    """The first frame to run: `first`, or with --resume the next one of the stride after `after`."""
    if after is not None and after >= first:
        return first + ((after - first) // stride + 1) * stride
    return first


def _file_frames(capture: cv2.VideoCapture, options: VideoOptions, after: int | None) -> Iterator[Frame]:
    fps = _fps(capture)
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))  # 0 or -1 when the container does not say
    first = _frame_range(options, fps)[0]
    # Frames are picked by their own times: from a frame before the estimate (the frame rate is an
    # average; a variable-rate video's frame `first` may be later than --start), frames before it are
    # passed over. At a constant rate that is one frame decoded more than the estimate alone.
    number = _next_frame(first, options.stride, after) if after is not None else max(0, first - 1)
    if after is not None and declared > 0 and number >= declared:
        return  # a resumed video that was finished
    length = f" ({declared} frames" + (f", {declared / fps:.1f} s)" if fps else ")") if declared > 0 else ""
    past_the_end = Frame(None, None, error=f"the time range starts after the video's end{length}")
    if declared > 0 and number >= declared:  # a seek there would fail as if the file were truncated
        yield past_the_end
        return
    if number > 0 and not _seek(capture, number):
        yield Frame(number, _time(number, fps), error=f"cannot seek to frame {number} (the video may be truncated)")
        return
    position, given, passed = number, 0, 0
    while True:
        start = time.perf_counter()
        while position < number:  # the frames --vid-stride skips are grabbed (decoded), not converted
            if not capture.grab():
                break
            position += 1
        ok, pixels = capture.read() if position == number else (False, None)
        if not ok or pixels is None:
            if declared > 0 and position < declared - COUNT_SLACK:
                yield Frame(
                    position,
                    _time(position, fps),
                    error=f"video ends at frame {position} of the {declared} "
                    "its container declares (truncated or corrupt from there)",
                )
            elif given == 0 and after is None and passed:  # every frame was before --start
                yield past_the_end
            elif given == 0 and after is None:  # it opened, but not one frame decodes
                yield Frame(position, _time(position, fps), error=_NO_FRAME_AFTER_START if number else _NO_FRAME)
            return
        position += 1
        time_s = _timestamp(capture, number, fps)
        if given == 0 and after is None and time_s is not None and time_s < options.start_s - TIME_EPS:
            number, passed = number + 1, passed + 1  # before --start: the range (and the stride) starts later
            continue
        if options.end_s is not None and time_s is not None and time_s >= options.end_s - TIME_EPS:
            return  # past --end, by the frame's own time
        given += 1
        yield Frame(number, time_s, pixels, read_ms=(time.perf_counter() - start) * 1e3)
        number += options.stride


def _timestamp(capture: cv2.VideoCapture, number: int, fps: float) -> float | None:
    """The time of the frame just read, from its own timestamp (a variable-rate video's frames are
    not number / fps apart); number / fps where the container gives none."""
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(msec) and msec >= 0 and (msec > 0 or number == 0):
        return msec / 1000.0
    return _time(number, fps)


def _stream_frames(ref: str, options: VideoOptions, max_pixels: int | None = None) -> Iterator[Frame]:
    """A live source: frames until it stops for good, then an error. A failed open or read counts
    as one try; `reconnects` tries in a row without a frame end it."""
    opened = time.monotonic()
    number, tries = 0, 0
    capture = None
    try:
        while True:
            if capture is None and (capture := _open(ref, options)) is not None:
                if problem := _too_large(capture, max_pixels):
                    yield Frame(number, time.monotonic() - opened, error=problem)
                    return
            start = time.perf_counter()
            ok, pixels = capture.read() if capture is not None else (False, None)
            if ok and pixels is not None:
                tries = 0  # frames came again: the next drop gets its full number of reconnects
                if number % options.stride == 0:
                    yield Frame(number, time.monotonic() - opened, pixels, read_ms=(time.perf_counter() - start) * 1e3)
                number += 1
                continue
            if capture is not None:
                capture.release()
                capture = None
            if tries >= options.reconnects:
                what = "cannot open stream" if number == 0 else f"stream lost at frame {number}"
                yield Frame(
                    number,
                    time.monotonic() - opened,
                    error=f"{what} (gave up after {tries} reconnect(s), {options.reconnect_wait_s:g} s apart)",
                )
                return
            tries += 1
            time.sleep(options.reconnect_wait_s)
    finally:
        if capture is not None:
            capture.release()


def _open(ref: str, options: VideoOptions) -> cv2.VideoCapture | None:
    """An opened capture, or None. URLs and streams open and read under the timeout."""
    if ref.lower().startswith(WEBCAM_PREFIX):
        try:
            capture = cv2.VideoCapture(int(ref[len(WEBCAM_PREFIX) :]))
        except (cv2.error, OverflowError, ValueError):
            return None
    else:
        timeout_ms = int(options.timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        try:
            capture = cv2.VideoCapture(ref, cv2.CAP_FFMPEG, params)
        except cv2.error:
            return None
    if not capture.isOpened():
        capture.release()
        return None
    return capture


def _cannot_open(source: Source) -> str:
    if source.is_url:
        return "cannot open video URL (unreachable, timed out, or not a video)"
    return "cannot open video (not a video, an unsupported codec, or truncated before its index)"


def _fps(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if math.isfinite(fps) and 0 < fps < 1000 else 0.0


def _time(number: int, fps: float) -> float | None:
    return number / fps if fps else None


def _seek(capture: cv2.VideoCapture, number: int) -> bool:
    """Seek so the next read returns frame `number` (OpenCV's FFmpeg backend seeks exactly: to a
    key frame, then decodes forward); False when the video has no such frame."""
    capture.set(cv2.CAP_PROP_POS_FRAMES, number)
    return int(capture.get(cv2.CAP_PROP_POS_FRAMES)) == number
