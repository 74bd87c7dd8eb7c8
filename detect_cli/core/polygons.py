"""Zones' geometry (`--zone NAME=X1,Y1,X2,Y2,...`): a named polygon in pixels or in % of the frame,
checked once (no self-crossing, some area), the test of which points lie in it, and the box anchors
that decide where a box is. Counting what is in the zones is `pipeline/zones.py`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from detect_cli.core.choices import ZONE_ANCHORS
from detect_cli.core.errors import ConfigError

OCCUPANCY = "zones"  # `Detections.metadata` key: the frame's occupancy, zone -> class -> boxes (in the records)
_NAME = re.compile(r"^[\w.-]{1,40}$")  # letters of any script, digits, _ . -: it names a column and a JSON key
_EXAMPLE = "e.g. --zone door=0,0,200,0,200,150,0,150 or --zone left=0%,0%,50%,0%,50%,100%,0%,100%"
MAX_VERTICES = 1000  # a traced outline has tens to hundreds; more is a mistake, or an attack on the checks
MAX_PIXELS = 1_000_000  # a coordinate's bound in pixels: far past any frame, and its squares stay exact
MAX_PERCENT = 1000.0  # and in % of the frame (a zone or line may reach past the frame, not to infinity)


@dataclass(frozen=True)
class Zone:
    """A named polygon in pixels; with `relative` (x in % of the width, y of the height), its points
    are fractions of the frame until `in_frame` gives the pixels of a frame of known size."""

    name: str
    points: tuple[tuple[float, float], ...]
    relative: tuple[bool, bool] = (False, False)  # x, y

    @classmethod
    def parse(cls, text: str) -> Zone:
        """`NAME=X1,Y1,X2,Y2,X3,Y3,...`: three to MAX_VERTICES points, each coordinate in pixels or in %
        of the frame (all x's in one unit, all y's in one); ConfigError naming the zone otherwise.
        Parsed once per text: the flags, the settings and the run's stage all ask."""
        return _parse_zone(str(text))

    @classmethod
    def _parse(cls, text: str) -> Zone:
        name, equals, coordinates = text.partition("=")
        name = name.strip()
        if not equals or not _NAME.match(name):
            raise ConfigError(
                f"--zone {text}: give it a name, then '=' and its points (NAME=X1,Y1,X2,Y2,...; "
                "the name in letters, digits, '_', '-' or '.')",
                _EXAMPLE,
            )
        if coordinates.count(",") >= 2 * MAX_VERTICES:  # counted before a single number is parsed
            raise ConfigError(
                f"--zone {name}: has {(coordinates.count(',') + 1) // 2} points, more than {MAX_VERTICES}",
                f"simplify the outline to at most {MAX_VERTICES} points",
            )
        parts = [p.strip() for p in coordinates.split(",")]
        percent = [p.endswith("%") for p in parts]
        try:
            values = [float(p.removesuffix("%")) / (100 if pc else 1) for p, pc in zip(parts, percent)]
        except ValueError:
            values = []
        if len(values) < 6 or len(values) % 2 or not all(np.isfinite(values)):
            raise ConfigError(
                f"--zone {name}: give at least three points as X,Y pairs (pixels, or % of the frame), "
                f"got {coordinates.strip()!r}",
                _EXAMPLE,
            )
        units = {axis: set(percent[axis::2]) for axis in (0, 1)}
        if any(len(u) > 1 for u in units.values()):
            raise ConfigError(
                f"--zone {name}: mixes pixels and % along one axis",
                "give all x's in one unit and all y's in one (e.g. every point in %)",
            )
        check_coordinates(values, percent, f"--zone {name}")
        points = _without_repeats(list(zip(values[0::2], values[1::2])))
        zone = cls(name, tuple(points), (percent[0], percent[1]))
        zone.check()
        return zone

    def check(self) -> None:
        """ConfigError when the polygon has no area or crosses itself (checked in its own units: scaling
        x and y to pixels keeps both facts)."""
        if len(self.points) >= 3 and self_intersects(np.array(self.points)):
            raise ConfigError(
                f"--zone {self.name}: the polygon crosses itself",
                "list its points in order around the area (clockwise or not)",
            )
        if len(self.points) < 3 or abs(polygon_area(np.array(self.points))) < 1e-9:
            raise ConfigError(
                f"--zone {self.name}: the polygon has no area (its points are on one line, or repeat)",
                "give three or more points around the area, in order",
            )

    def in_frame(self, width: int, height: int) -> Zone:
        """The zone in the pixels of a `width` x `height` frame."""
        if not any(self.relative):
            return self
        sx, sy = (width if self.relative[0] else 1), (height if self.relative[1] else 1)
        return Zone(self.name, tuple((x * sx, y * sy) for x, y in self.points))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """For (N, 2) points, whether each is inside (even-odd rule) or on an edge: a box clipped at the
        frame's bottom has its anchor on the bottom edge of a zone that reaches it."""
        return inside_polygon(np.asarray(points, np.float64).reshape(-1, 2), self.edges)

    @cached_property
    def edges(self) -> np.ndarray:
        """(E, 4) x1, y1, x2, y2 of each edge (the last one closing the polygon), made once per zone."""
        corners = np.array(self.points, np.float64)
        return np.concatenate([corners, np.roll(corners, -1, axis=0)], axis=1)

    def as_list(self) -> list[list[float]]:
        return [[round(x, 2), round(y, 2)] for x, y in self.points]


@lru_cache(maxsize=64)
def _parse_zone(text: str) -> Zone:
    return Zone._parse(text)


def check_coordinates(values: Sequence[float], percent: Sequence[bool], what: str) -> None:
    """ConfigError naming `what` (e.g. `--zone door`) when a coordinate is out of range: pixels beyond
    MAX_PIXELS, percentages (given as fractions) beyond MAX_PERCENT; nothing real lies there, and past
    it the geometry overflows (1e200 squared is inf, a crossing test on 1e308 says nonsense)."""
    for value, in_percent in zip(values, percent):
        bound = MAX_PERCENT / 100 if in_percent else MAX_PIXELS
        if not abs(value) <= bound:
            shown = f"{value * 100:g}%" if in_percent else f"{value:g}"
            limit = f"{MAX_PERCENT:g}%" if in_percent else f"{MAX_PIXELS:,} pixels"
            raise ConfigError(
                f"{what}: coordinate {shown} is out of range (at most {limit} either way)",
                "give coordinates in the frame's pixels, or in % of it",
            )


def _without_repeats(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    kept = [p for k, p in enumerate(points) if p != points[k - 1]] if len(points) > 1 else points
    return kept


def polygon_area(points: np.ndarray) -> float:
    """Signed area (shoelace)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def self_intersects(points: np.ndarray) -> bool:
    """Whether two edges that are not neighbours touch or cross: every pair, tested a block of edges
    against all others at a time in NumPy (a zone has at most MAX_VERTICES points: 500,000 pairs)."""
    corners = np.asarray(points, np.float64)
    n = len(corners)
    if n < 4:
        return False  # a triangle's edges are all neighbours
    a, b = corners, np.roll(corners, -1, axis=0)  # edge k runs a[k] -> b[k]
    block = 256
    for start in range(0, n, block):
        i = np.arange(start, min(start + block, n))[:, None]
        j = np.arange(n)[None, :]
        pairs = (j > i + 1) & ~((i == 0) & (j == n - 1))  # each pair once, neighbours left out
        rows, cols = np.nonzero(pairs)
        if rows.size and _segments_meet(a[i[rows, 0]], b[i[rows, 0]], a[cols], b[cols]).any():
            return True
    return False


def _segments_meet(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """For (K, 2) arrays of segment ends: whether segment a-b touches or crosses segment c-d, each row."""

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.sign((q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0]))

    def on(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:  # r on segment pq, given collinear
        return (
            (np.minimum(p[:, 0], q[:, 0]) <= r[:, 0])
            & (r[:, 0] <= np.maximum(p[:, 0], q[:, 0]))
            & (np.minimum(p[:, 1], q[:, 1]) <= r[:, 1])
            & (r[:, 1] <= np.maximum(p[:, 1], q[:, 1]))
        )

    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    crossing = (o1 != o2) & (o3 != o4) & (o1 != 0) & (o2 != 0) & (o3 != 0) & (o4 != 0)
    touching = (
        ((o1 == 0) & on(a, b, c)) | ((o2 == 0) & on(a, b, d)) | ((o3 == 0) & on(c, d, a)) | ((o4 == 0) & on(c, d, b))
    )
    return crossing | touching


def inside_polygon(points: np.ndarray, edges: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """Even-odd ray casting for many points at once, against (E, 4) edges x1, y1, x2, y2; points
    within `tolerance` of an edge are inside."""
    if not len(points):
        return np.zeros(0, bool)
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1, x2, y2 = edges[:, 0], edges[:, 1], edges[:, 2], edges[:, 3]
    dx, dy = x2 - x1, y2 - y1
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = x1 + (y - y1) * dx / dy
    inside = (np.count_nonzero(((y1 > y) != (y2 > y)) & (x < crossing_x), axis=1) % 2).astype(bool)
    along = np.clip(((x - x1) * dx + (y - y1) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0, 1)
    gap = (x - x1 - along * dx) ** 2 + (y - y1 - along * dy) ** 2
    return inside | (gap.min(axis=1) <= tolerance * tolerance)


def anchor_points(xyxy: np.ndarray, anchor: str = "bottom-center") -> np.ndarray:
    """(N, 2) anchor point of each box."""
    if anchor not in ZONE_ANCHORS:
        raise ConfigError(f"--zone-anchor {anchor}: choose one of {', '.join(ZONE_ANCHORS)}")
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    xs = {"left": boxes[:, 0], "right": boxes[:, 2], "center": (boxes[:, 0] + boxes[:, 2]) / 2}
    ys = {"top": boxes[:, 1], "bottom": boxes[:, 3], "center": (boxes[:, 1] + boxes[:, 3]) / 2}
    vertical, _, horizontal = anchor.partition("-")
    return np.stack([xs[horizontal or "center"], ys[vertical]], axis=1)


def parse_zones(texts: Iterable[str]) -> list[Zone]:
    """`--zone` values (repeatable) as zones; ConfigError for a bad one or a name given twice."""
    zones: list[Zone] = []
    for text in texts:
        zone = Zone.parse(text)
        if any(z.name == zone.name for z in zones):
            raise ConfigError(f"--zone {zone.name}: two zones have this name", "give each zone its own name")
        zones.append(zone)
    return zones
