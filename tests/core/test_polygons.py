"""--zone's geometry: parsing (pixels, percent, bad polygons named), points in polygons, box anchors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.core.polygons import MAX_VERTICES, Zone, anchor_points, parse_zones, self_intersects

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
        ("far=0,0,1e308,0,1e308,1e308", "far: coordinate 1e\\+308 is out of range"),  # was "crosses itself"
        ("vast=0,0,1e200,0,1e200,1e200,0,1e200", "vast: coordinate 1e\\+200 is out of range"),  # NumPy warned
        ("wide=0%,0%,5000%,0%,5000%,100%", "wide: coordinate 5000% is out of range"),
        pytest.param("many=" + ",".join(["5"] * 2002), "many: has 1001 points, more than 1000", id="1001-points"),
    ],
)
def test_a_bad_zone_is_a_config_error_naming_it(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"--zone .*{says}"):
        Zone.parse(text)


def test_a_zone_far_out_is_refused_without_numpy_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in the crossing test would be a RuntimeWarning
        with pytest.raises(ConfigError, match="--zone vast: coordinate"):
            Zone.parse("vast=0,0,1e200,0,1e200,1e200,0,1e200")


def _circle(n: int) -> np.ndarray:
    turn = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([500 + 400 * np.cos(turn), 500 + 400 * np.sin(turn)], axis=1)


def test_a_zone_of_the_most_vertices_is_checked_whole() -> None:
    """1,000 vertices: every pair of edges is tested (in NumPy); one swapped pair of points anywhere
    makes it cross itself, and it is found."""
    circle = _circle(MAX_VERTICES)
    assert not self_intersects(circle)
    for k in (0, 500, MAX_VERTICES - 2):
        twisted = circle.copy()
        twisted[[k, k + 1]] = twisted[[k + 1, k]]
        assert self_intersects(twisted), k
    text = "ring=" + ",".join(f"{x:.4f},{y:.4f}" for x, y in circle)
    assert len(Zone.parse(text).points) == MAX_VERTICES


def test_a_zone_is_parsed_once_however_often_it_is_asked_for() -> None:
    """The flags, the settings and the run's stage each ask for the zones: one parse serves them."""
    assert Zone.parse(SQUARE) is Zone.parse(SQUARE)


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
    from detect_cli.core.settings import load_settings
    from detect_cli.tasks.plan import spatial_flags, spatial_stage

    config = tmp_path / "c.yaml"
    config.write_text(f"zones:\n  - {SQUARE}\n  - lane=0%,50%,100%,50%,100%,100%,0%,100%\nzone_anchor: center\n")
    settings = load_settings(config)
    stage = spatial_stage(settings, None, ray=False)
    assert stage is not None and [z.name for z in stage.zones] == ["door", "lane"] and stage.anchor == "center"
    flagged = load_settings(config, spatial_flags(["only=0,0,10,0,10,10"], None, None))
    assert flagged.zones == ("only=0,0,10,0,10,10",) and flagged.zone_anchor == "center"
    assert spatial_stage(load_settings(None), None, ray=False) is None  # no zones, no heatmap: no stage
