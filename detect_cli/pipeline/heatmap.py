"""`--heatmap DIR`: where objects were over a sequence, as counts of box centres on a grid.

The grid's cells are square, of `cell_px` pixels, chosen so the longer side has at most
`MAX_CELLS` of them (a 1920 x 1080 video: 128 x 72 cells of 15 px), which bounds memory by the
number of maps, not by the frame size: 80 classes take 3 MB. Maps are kept per class and for all
classes together; `HeatmapAccumulator.maps(which)` gives those asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detect_cli.core.errors import ConfigError

MAX_CELLS = 128
ALL = "all"  # one map of every class together
EACH = "each"  # one map per class seen


def parse_heatmap_classes(text: str) -> tuple[str, ...]:
    """`all`, `each`, or class names (comma-separated): the maps to save; ConfigError when empty."""
    items = tuple(part.strip() for part in str(text).split(",") if part.strip())
    if not items:
        raise ConfigError("--heatmap-classes: give all, each, or class names (e.g. person,car)")
    return items


@dataclass
class HeatmapAccumulator:
    """Box-centre counts of one sequence; `add` once per frame."""

    width: int
    height: int
    cell_px: float = 0.0
    frames: int = 0
    background: np.ndarray | None = field(default=None, repr=False)  # the first frame, to draw the maps over
    _counts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.cell_px:
            self.cell_px = max(1.0, max(self.width, self.height) / MAX_CELLS)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return max(1, int(np.ceil(self.height / self.cell_px))), max(1, int(np.ceil(self.width / self.cell_px)))

    def add(self, xyxy: np.ndarray, names: list[str], image: np.ndarray | None = None) -> None:
        """The frame's boxes and their class names; `image` (the frame) is kept if it is the first."""
        self.frames += 1
        if self.background is None and image is not None:
            self.background = image.copy()
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        if not len(boxes):
            return
        rows, cols = self.shape
        cx = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2 / self.cell_px).astype(np.int64), 0, cols - 1)
        cy = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2 / self.cell_px).astype(np.int64), 0, rows - 1)
        for name in (ALL, *names):
            self._counts.setdefault(name, np.zeros((rows, cols), np.float32))
        np.add.at(self._counts[ALL], (cy, cx), 1)
        for name in set(names):
            mine = np.array([n == name for n in names])
            np.add.at(self._counts[name], (cy[mine], cx[mine]), 1)

    def maps(self, which: tuple[str, ...] = (ALL,)) -> dict[str, np.ndarray]:
        """label -> (rows, columns) float32 counts: `all`, `each` (every class seen), or named classes (a
        class never seen gives a map of zeros, so a script finds the file it expects)."""
        wanted: list[str] = []
        for item in which:
            if item == EACH:
                wanted += sorted(k for k in self._counts if k != ALL)
            else:
                wanted.append(item)
        empty = np.zeros(self.shape, np.float32)
        return {name: self._counts.get(name, empty).copy() for name in dict.fromkeys(wanted)}
