"""The zones and heatmaps stage: per sequence, occupancy on each result, and the maps written at the end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.polygons import OCCUPANCY, Zone
from detect_cli.pipeline.spatial import SpatialStage
from tests.helpers import make_result


def test_each_sequence_gets_its_own_counter_and_percent_zones_its_own_pixels() -> None:
    stage = SpatialStage([Zone.parse("left=0%,0%,50%,0%,50%,100%,0%,100%")])
    box = Detections([(10, 10, 20, 20)], [0.9], [0], track_id=[1])
    small = [
        stage.observe(replace(make_result(0, source="a.mp4", width=100, height=100, detections=box), frame=k))
        for k in range(2)
    ]
    large = [
        stage.observe(replace(make_result(1, source="b.mp4", width=400, height=400, detections=box), frame=k))
        for k in range(2)
    ]
    assert set(stage.counters) == {"a.mp4", "b.mp4"}
    assert stage.counters["a.mp4"].zones[0].points[1] == (50, 0) and stage.counters["b.mp4"].zones[0].points[1] == (
        200,
        0,
    )
    assert small[0].detections.metadata[OCCUPANCY] == {"left": {"person": 1}}
    assert stage.zones_of(large[0]) == stage.counters["b.mp4"].zones


def test_an_error_record_passes_untouched() -> None:
    stage = SpatialStage([Zone.parse("z=0,0,10,0,10,10")], heatmap=("all",))
    failed = make_result(0, error="cannot read")
    assert stage.observe(failed) is failed and not stage.counters and not stage.heatmaps


def test_a_bad_anchor_is_refused() -> None:
    with pytest.raises(ConfigError, match="--zone-anchor middle"):
        SpatialStage(anchor="middle")


def test_write_heatmaps_per_sequence_and_class(tmp_path: Path) -> None:
    stage = SpatialStage(heatmap=("all", "each"))
    for k in range(3):
        result = make_result(k, source="/data/frames/img.jpg", width=64, height=48)
        stage.observe(result)
    saved, failed = stage.write_heatmaps(tmp_path / "maps")
    assert not failed and {h.label for h in saved} >= {"all"} and len(saved) >= 2
    (every,) = [h for h in saved if h.label == "all"]
    assert every.sequence == "/data/frames" and np.load(every.npy).sum() == 9  # 3 frames of 3 boxes
    blocked = tmp_path / "file"
    blocked.write_text("")
    saved, failed = stage.write_heatmaps(blocked / "maps")  # a folder that cannot be made
    assert not saved and len(failed) == 4 and all(key == "/data/frames" and why for key, why in failed)


def test_a_short_sequence_gets_its_heatmap_and_one_map_that_fails_loses_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 64x20 sequence (under the scale's 40 rows, which once failed every map of the run) is drawn;
    a map that cannot be drawn is one failure, named, and the other sequences' maps are written."""
    from detect_cli.pipeline import spatial

    stage = SpatialStage(heatmap=("all",))
    for source, height in (("short.mp4", 20), ("tall.mp4", 48), ("broken.mp4", 48)):
        stage.observe(replace(make_result(0, source=source, width=64, height=height), frame=0))
    drawn = spatial.heatmap_picture

    def picture(counts: np.ndarray, background: object, width: int, height: int, *rest: object) -> np.ndarray:
        if counts is broken:
            raise ValueError("operands could not be broadcast together")
        return drawn(counts, background, width, height, *rest)  # type: ignore[arg-type]

    broken = stage.heatmaps["broken.mp4"].maps()["all"]
    monkeypatch.setattr(stage.heatmaps["broken.mp4"], "maps", lambda which: {"all": broken})
    monkeypatch.setattr(spatial, "heatmap_picture", picture)
    saved, failed = stage.write_heatmaps(tmp_path / "maps")
    assert sorted(h.sequence for h in saved) == ["short.mp4", "tall.mp4"]
    assert failed == [("broken.mp4", "cannot draw the all map (ValueError: operands could not be broadcast together)")]
    (short,) = [h for h in saved if h.sequence == "short.mp4"]
    assert np.load(short.npy).sum() == 3
