"""--zone's geometry: parsing (pixels, percent, bad polygons named), points in polygons, box anchors."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.core.polygons import Zone, anchor_points, parse_zones, self_intersects

SQUARE = "door=100,100,200,100,200,200,100,200"


def test_a_zone_in_pixels_and_one_in_percent() -> None:
    zone = Zone.parse(SQUARE)
    assert zone.name == "door" and zone.points == ((100, 100), (200, 100), (200, 200), (100, 200))
    relative = Zone.parse("door=25%,25%,50%,25%,50%,50%,25%,50%")
    assert relative.relative == (True, True)
    assert relative.in_frame(400, 400).points == zone.points


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("bow=0,0,100,100,100,0,0,100", "bow: the polygon crosses itself"),  # a bow tie
        ("line=0,0,50,50,100,100", "line: the polygon has no area"),  # three points on one line
        ("dot=10,10,10,10,10,10", "dot: the polygon has no area"),  # one point three times
        ("pinch=0,0,100,0,50,50,100,100,0,100,50,50", "pinch: the polygon crosses itself"),  # touches itself
        ("two=0,0,10,10", "two: give at least three points"),
        ("odd=0,0,10,10,5", "odd: give at least three points"),
        ("nan=0,0,nan,10,5,5", "nan: give at least three points"),
        ("mix=0,0,50%,0,50%,50,0,50", "mix: mixes pixels and %"),
        ("=0,0,10,0,10,10", "give it a name"),
        ("0,0,10,0,10,10", "give it a name"),
        ("bad name=0,0,10,0,10,10", "give it a name"),
    ],
)
def test_a_bad_zone_is_a_config_error_naming_it(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"--zone .*{says}"):
        Zone.parse(text)


def test_a_name_in_any_script_is_fine() -> None:
    assert Zone.parse("caisse_é-1=0,0,10,0,10,10").name == "caisse_é-1"


def test_two_zones_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="--zone door: two zones have this name"):
        parse_zones([SQUARE, SQUARE])


def test_self_intersection_is_checked_on_every_pair_of_edges() -> None:
    star = np.array([(0, 0), (60, 100), (120, 0), (0, 70), (120, 70)], float)  # a pentagram: crosses
    convex = np.array([(0, 0), (100, 0), (120, 60), (50, 100), (-20, 60)], float)
    concave = np.array([(0, 0), (100, 0), (100, 100), (50, 30), (0, 100)], float)  # an arrow head: simple
    assert self_intersects(star) and not self_intersects(convex) and not self_intersects(concave)


def test_contains_a_concave_polygon() -> None:
    arrow = Zone.parse("arrow=0,0,100,0,100,100,50,30,0,100")
    inside = arrow.contains(np.array([(10, 10), (50, 20), (50, 60), (10, 80), (90, 80), (150, 50)]))
    assert inside.tolist() == [True, True, False, True, True, False]  # (50, 60) is in the notch


def test_a_point_on_an_edge_is_inside() -> None:
    """A box clipped at the frame's bottom has its bottom centre on the edge of a zone that reaches it."""
    whole = Zone.parse("all=0,0,320,0,320,320,0,320")
    points = np.array([(160, 320), (320, 100), (0, 0), (160, 320.5), (-0.1, 5)])
    assert whole.contains(points).tolist() == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("anchor", "point"),
    [
        ("bottom-center", (15, 40)),
        ("center", (15, 30)),
        ("top-center", (15, 20)),
        ("bottom-left", (10, 40)),
        ("bottom-right", (20, 40)),
    ],
)
def test_anchor_points(anchor: str, point: tuple[int, int]) -> None:
    assert anchor_points(np.array([[10, 20, 20, 40]]), anchor).tolist() == [list(point)]


def test_zones_come_from_the_config_file_and_flags_replace_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from detect_cli.cli.zones import spatial_flags, spatial_stage
    from detect_cli.core.settings import load_settings

    config = tmp_path / "c.yaml"
    config.write_text(f"zones:\n  - {SQUARE}\n  - lane=0%,50%,100%,50%,100%,100%,0%,100%\nzone_anchor: center\n")
    settings = load_settings(config)
    stage = spatial_stage(settings, None, ray=False)
    assert stage is not None and [z.name for z in stage.zones] == ["door", "lane"] and stage.anchor == "center"
    flagged = load_settings(config, spatial_flags(["only=0,0,10,0,10,10"], None, None))
    assert flagged.zones == ("only=0,0,10,0,10,10",) and flagged.zone_anchor == "center"
    assert spatial_stage(load_settings(None), None, ray=False) is None  # no zones, no heatmap: no stage
