"""--heatmap: box centres counted on a grid, per class and all together."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.pipeline.heatmap import ALL, EACH, MAX_CELLS, HeatmapAccumulator, parse_heatmap_classes


def test_centres_land_in_their_cells_per_class_and_all() -> None:
    heat = HeatmapAccumulator(640, 480)
    assert heat.cell_px == 640 / MAX_CELLS and heat.shape == (96, 128)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [600, 400, 640, 480], [630, 470, 650, 490]])
    heat.add(boxes, ["car", "bus", "car", "car"])
    maps = heat.maps((ALL, EACH, "person"))
    assert list(maps) == ["all", "bus", "car", "person"]
    assert maps["all"].sum() == 4 and maps["all"][1, 1] == 2  # (5, 5) is in cell (1, 1) of 5-px cells
    assert maps["car"][1, 1] == 1 and maps["bus"][1, 1] == 1
    assert maps["car"][88, 124] == 1 and maps["car"][95, 127] == 1  # a centre past the edge stays in the last cell
    assert not maps["person"].any()  # asked for, never seen: zeros, so the file a script expects is there


def test_memory_is_bounded_by_the_grid_not_the_frame() -> None:
    heat = HeatmapAccumulator(7680, 4320)
    assert max(heat.shape) == MAX_CELLS
    small = HeatmapAccumulator(100, 50)
    assert small.cell_px == 1.0 and small.shape == (50, 100)  # never cells under a pixel


def test_the_first_frame_is_kept_as_the_background() -> None:
    heat = HeatmapAccumulator(32, 32)
    first, second = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    heat.add(np.zeros((0, 4)), [], first)
    heat.add(np.zeros((0, 4)), [], second)
    first[:] = 9  # a copy is kept, not the caller's buffer
    assert heat.frames == 2 and heat.background is not None and not heat.background.any()


@pytest.mark.parametrize(("text", "expected"), [("all", ("all",)), ("each", ("each",)), (" car, bus ", ("car", "bus"))])
def test_parse_heatmap_classes(text: str, expected: tuple[str, ...]) -> None:
    assert parse_heatmap_classes(text) == expected


def test_no_heatmap_classes_is_an_error() -> None:
    with pytest.raises(ConfigError, match="--heatmap-classes"):
        parse_heatmap_classes(" , ")
