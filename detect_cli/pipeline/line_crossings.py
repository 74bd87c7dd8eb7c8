"""`--count-line`: how many tracked objects crossed a line, per class and direction.

A track crosses when the centre of its box moves from one side of the line to the other between
two frames in which it was seen, through the segment itself (not its extension). Each track is
counted once per line, at its first crossing: an object that stops on the line, its box jittering
back and forth, still counts one. Directions are named as seen walking from the line's first point
to its second: `in` is a crossing from the left to the right, `out` from the right to the left (in
image coordinates, y pointing down: for a line drawn left to right, `in` is downwards).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect_cli.core.errors import ConfigError
from detect_cli.core.polygons import check_coordinates

DIRECTIONS = ("in", "out")


@dataclass(frozen=True)
class Line:
    """Two points in pixels; with `relative`, those coordinates are fractions of the frame's width
    (x) or height (y) until `in_frame` gives the pixels of a frame of known size."""

    x1: float
    y1: float
    x2: float
    y2: float
    relative: tuple[bool, bool, bool, bool] = (False, False, False, False)

    @classmethod
    def parse(cls, text: str) -> Line:
        """`X1,Y1,X2,Y2`, each in pixels or as a percentage of the frame (`50%`)."""
        parts = [part.strip() for part in text.split(",")]
        relative = tuple(part.endswith("%") for part in parts)
        try:
            values = [float(part.removesuffix("%")) / (100 if rel else 1) for part, rel in zip(parts, relative)]
        except ValueError:
            values = []
        if len(values) != 4 or not all(np.isfinite(values)):
            raise ConfigError(
                f"--count-line {text}: give the line's two points as X1,Y1,X2,Y2 (pixels, or % of the frame)",
                "e.g. --count-line 0,240,640,240 or 0%,50%,100%,50%: a horizontal "
                "line across the middle of a 640x480 frame",
            )
        check_coordinates(values, relative, f"--count-line {text}")  # 1e308 is finite, and no frame's pixel
        line = cls(*values, relative=relative)  # type: ignore[arg-type]
        if (line.x1, line.y1, relative[:2]) == (line.x2, line.y2, relative[2:]):
            raise ConfigError(f"--count-line {text}: the two points are the same", "give two different points")
        return line

    def in_frame(self, width: int, height: int) -> Line:
        """The line in the pixels of a `width` x `height` frame."""
        if not any(self.relative):
            return self
        scales = (width, height, width, height)
        return Line(*(v * s if rel else v for v, s, rel in zip(self.as_list(), scales, self.relative)))

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    def check_on_videos(self, args: list[str]) -> None:
        """`check_in_frame` for each local video file among the command's arguments, from its header
        (before any model loads); streams and URLs are checked at their first frame."""
        from detect_cli.inputs.sources import is_stream, is_video

        for arg in args:
            if is_video(arg) and not is_stream(arg) and "://" not in arg and (size := frame_size(arg)):
                self.check_in_frame(*size)

    def check_in_frame(self, width: int, height: int) -> Line:
        """The line in the pixels of a `width` x `height` frame; ConfigError naming --count-line when
        it could count nothing there: shorter than a pixel, or wholly outside the frame."""
        line = self.in_frame(width, height)
        shown = ",".join(f"{v:g}" for v in line.as_list())
        if math.hypot(line.x2 - line.x1, line.y2 - line.y1) < 1:
            raise ConfigError(
                f"--count-line is {shown} in this {width}x{height} video's pixels: shorter than a "
                "pixel, so nothing can cross it",
                "give two points apart, e.g. 0%,50%,100%,50%",
            )
        if not _meets_box(line, width, height):
            raise ConfigError(
                f"--count-line {shown} lies wholly outside this video's {width}x{height} frame",
                "give points inside the frame, in pixels or as % of it",
            )
        return line

    def side(self, points: np.ndarray) -> np.ndarray:
        """Sign of each (x, y) point's side: +1 left of the direction first -> second point (image
        coordinates), -1 right, 0 on the line."""
        cross = (self.x2 - self.x1) * (points[:, 1] - self.y1) - (self.y2 - self.y1) * (points[:, 0] - self.x1)
        return np.sign(-cross)  # y points down: the usual cross product's left is the image's right

    def crosses_segment(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether the move a -> b passes through the segment (not just the infinite line)."""
        ends = np.array([[self.x1, self.y1], [self.x2, self.y2]])
        mover = Line(*a, *b)
        return bool(np.prod(mover.side(ends)) <= 0)


def frame_size(path: str) -> tuple[int, int] | None:
    """(width, height) of a local video file's frames from its header, or None (not a regular file,
    a playlist, or a file that does not open)."""
    import cv2

    from detect_cli.inputs.video import local_problem

    if local_problem(path) or path.lower().endswith((".m3u8", ".m3u")):
        return None
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return size if capture.isOpened() and min(size) > 0 else None
    finally:
        capture.release()


def _meets_box(line: Line, width: float, height: float) -> bool:
    """Whether the segment meets the rectangle [0, width] x [0, height] (Liang-Barsky clipping)."""
    dx, dy = line.x2 - line.x1, line.y2 - line.y1
    low, high = 0.0, 1.0
    for p, q in ((-dx, line.x1), (dx, width - line.x1), (-dy, line.y1), (dy, height - line.y1)):
        if p == 0:
            if q < 0:
                return False  # parallel to this edge, and outside it
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


@dataclass
class LineCounter:
    """Crossings of one line within one sequence (a video or stream); `update` once per frame."""

    line: Line
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {d: Counter() for d in DIRECTIONS})
    events: list[dict[str, Any]] = field(default_factory=list)  # one per counted track
    _last: dict[int, tuple[float, float, int]] = field(default_factory=dict, repr=False)  # track -> x, y, side
    _counted: set[int] = field(default_factory=set, repr=False)
    _placed: bool = field(default=False, repr=False)  # checked against the first frame's size

    def update(
        self,
        track_ids: np.ndarray,
        xyxy: np.ndarray,
        names: list[str],
        frame: int | None = None,
        time_s: float | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        """The frame's tracked boxes (track id -1: in no track, ignored), their class names, and the
        frame's (width, height), which places a line given in percent (at the first frame)."""
        if size is not None and not self._placed:
            self.line, self._placed = self.line.check_in_frame(*size), True
        tracked = np.asarray(track_ids) >= 0
        if not tracked.any():
            return
        boxes = np.asarray(xyxy, np.float64)[tracked]
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
        sides = self.line.side(centres)
        for track, centre, side, name in zip(
            np.asarray(track_ids)[tracked].tolist(), centres, sides.tolist(), [n for n, t in zip(names, tracked) if t]
        ):
            before = self._last.get(track)
            if side != 0:  # on the line: wait for the side it leaves to
                self._last[track] = (float(centre[0]), float(centre[1]), int(side))
            if before is None or side == 0 or side == before[2] or track in self._counted:
                continue
            if not self.line.crosses_segment(np.array(before[:2]), centre):
                continue
            direction = "in" if before[2] > 0 else "out"
            self._counted.add(track)
            self.counts[direction][name] += 1
            self.events.append(
                {"track_id": track, "class_name": name, "direction": direction, "frame": frame, "time_s": time_s}
            )

    def total(self, direction: str) -> int:
        return sum(self.counts[direction].values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line.as_list(),
            **{d: dict(sorted(self.counts[d].items())) for d in DIRECTIONS},
            "events": self.events,
        }
