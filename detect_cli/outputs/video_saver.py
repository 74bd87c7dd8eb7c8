"""`--save DIR` for videos: one annotated video per input video, same size, same frame rate (the
input's rate divided by --vid-stride, so it lasts as long), MPEG-4 (`mp4v`, which every OpenCV
build writes). Names follow `saving.ImageSaver`'s rule (they mirror the input, `clip.avi` ->
`clip.mp4`, and never replace a file): the file is created exclusively before OpenCV writes it.

The rate comes from the first two frames' times, so streams and URLs need no second connection:
the first annotated frame waits for the second."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from detect_cli.outputs.image_saver import ImageSaver

FOURCC = "mp4v"
DEFAULT_FPS = 25.0  # a video of one frame, or one without times


class VideoSaver:
    def __init__(self, names: ImageSaver) -> None:
        self.names = names
        self._key: tuple[int, str] | None = None
        self._writer: cv2.VideoWriter | None = None
        self._first: tuple[np.ndarray, float | None] | None = None
        self._name = ""
        self._written = 0
        self.path: Path | None = None
        self.failures: list[tuple[Path | None, str]] = []  # earlier videos found cut short when closed

    def add(self, index: int, source: str, name: str, frame: np.ndarray, time_s: float | None) -> Path:
        """Append an annotated frame to its video (a new input closes the one before: should that
        one prove cut short, it goes to `failures`). OSError when it cannot be written: the caller
        stops writing this video and says so once."""
        if self._key != (index, source):
            try:
                self.close()
            except OSError as exc:
                self.failures.append((self.path, str(exc)))
            self._key, self._name = (index, source), name
            self.path = self._claim(name)
            self._first = (frame, time_s)
            return self.path
        if self._writer is None and self._first is not None:
            first, first_time = self._first
            fps = (
                1.0 / (time_s - first_time)
                if time_s is not None and first_time is not None and time_s > first_time
                else DEFAULT_FPS
            )
            self._open(first, fps)
            self._write(first)
            self._first = None
        self._write(frame)
        assert self.path is not None
        return self.path

    def close(self) -> None:
        """Finish the current video (a single buffered frame is written at the default rate), then
        check it: OpenCV's writer never reports a failed write (a full disk leaves a file cut at
        its first buffer, unplayable), so the file is opened again and must hold every frame.
        OSError saying what is missing otherwise."""
        try:
            if self._first is not None and self.path is not None:
                self._open(self._first[0], DEFAULT_FPS)
                self._write(self._first[0])
        finally:
            self._first = None
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.release()
        if writer is not None and self.path is not None:
            _check_written(self.path, self._written)

    def abandon(self) -> None:
        """Stop writing the current video after a failure (later frames of it are not written)."""
        self._first = None
        if self._writer is not None:
            self._writer.release()
        self._writer = None

    def _claim(self, name: str) -> Path:
        stem = PurePosixPath(name.replace("\\", "/"))
        target = str(stem.with_suffix(".mp4")) if stem.suffix else f"{stem}.mp4"
        while True:
            path = self.names.path_for(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                open(path, "xb").close()  # ours from now on: OpenCV then writes over our empty file
            except FileExistsError:
                continue
            return path

    def _open(self, frame: np.ndarray, fps: float) -> None:
        assert self.path is not None
        height, width = frame.shape[:2]
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*FOURCC), fps, (width, height))
        if not writer.isOpened():
            self.path.unlink(missing_ok=True)  # ours, empty
            raise OSError(f"OpenCV cannot write {FOURCC} video to {self.path}")
        self._writer, self._size, self._written = writer, (width, height), 0

    def _write(self, frame: np.ndarray) -> None:
        assert self._writer is not None
        if (frame.shape[1], frame.shape[0]) != self._size:  # a stream that changed resolution
            frame = cv2.resize(frame, self._size)
        self._writer.write(frame)
        self._written += 1


def _check_written(path: Path, frames: int) -> None:
    """OSError unless the finished video at `path` opens and declares `frames` frames."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        found = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    if found >= frames:
        return
    try:
        full = os.statvfs(path.parent).f_bavail == 0
    except OSError:
        full = False
    why = "No space left on device" if full else "the writer failed"
    what = "unplayable" if found <= 0 else f"{found} of its {frames} frames readable"
    raise OSError(f"annotated video {path} is cut short ({what}): {why}")
