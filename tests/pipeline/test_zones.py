"""--zone: occupancy per frame, and each track's entry, exit and time in the zone."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.polygons import Zone, parse_zones
from detect_cli.pipeline.zones import ZoneCounter

SQUARE = "door=100,100,200,100,200,200,100,200"
FPS = 25.0


def box_at(x: float, y: float, half: float = 5.0) -> list[float]:
    """A box whose bottom centre is (x, y)."""
    return [x - half, y - 2 * half, x + half, y]


def feed(
    counter: ZoneCounter,
    path: list[tuple[int, float, float]],
    *,
    track: int = 7,
    name: str = "person",
    size: tuple[int, int] = (640, 480),
) -> list[dict]:
    """One tracked box per (frame, x, y) of its bottom centre; the occupancy of each frame."""
    return [
        counter.update(np.array([box_at(x, y)]), [name], np.array([track]), frame, frame / FPS, size)
        for frame, x, y in path
    ]


# --- occupancy ----------------------------------------------------------------------------------


def test_occupancy_counts_each_class_by_its_anchor_and_only_tracked_boxes() -> None:
    counter = ZoneCounter(parse_zones([SQUARE, "left=0,0,100,0,100,480,0,480"]))
    boxes = np.array([box_at(150, 150), box_at(150, 190), box_at(150, 195), box_at(50, 50), box_at(150, 250)])
    # the third box is the model's second class on the same spot: in no track, so not counted
    occupancy = counter.update(boxes, ["car", "car", "bus", "car", "car"], np.array([1, 2, -1, 3, 4]), 0, 0.0)
    assert occupancy == {"door": {"car": 2}, "left": {"car": 1}}
    untracked = ZoneCounter(parse_zones([SQUARE]))
    assert untracked.update(boxes, ["car", "car", "bus", "car", "car"], None, 0, 0.0) == {"door": {"bus": 1, "car": 2}}
    counter.update(boxes[:1], ["car"], np.array([1]), 1, 1 / FPS)
    summary = counter.summary()["door"]["car"]
    assert (summary["max"], summary["mean"]) == (2, 1.5)


def test_a_percent_zone_lands_where_the_pixel_zone_does() -> None:
    """A stream's frame size is not known up front: the percent zone is placed on its first frame."""
    path = [(f, 62 + 4 * f, 150.0) for f in range(60)]  # walks right, through x = 100..200
    pixels, percent = (
        ZoneCounter([Zone.parse(SQUARE)]),
        ZoneCounter([Zone.parse("door=25%,25%,50%,25%,50%,50%,25%,50%")]),
    )
    assert feed(pixels, path, size=(400, 400)) == feed(percent, path, size=(400, 400))
    assert percent.zones[0].points == pixels.zones[0].points
    assert percent.visits() == pixels.visits() and pixels.visits()[0]["entered_frame"] == 10


# --- entries, exits and time in zone --------------------------------------------------------------


def test_a_track_jittering_on_the_border_enters_once() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    jitter = [(f, 150.0, 99.0 if f % 2 else 101.0) for f in range(10, 30)]  # in, out, in, out ... on y = 100
    occupancy = feed(counter, [(f, 150.0, 80.0) for f in range(10)] + jitter + [(30, 150.0, 150.0)])
    (visit,) = counter.visits()
    assert visit["entered_frame"] == 10 and visit["left_frame"] == 29  # one entry; the last time seen leaving
    summary = counter.summary()["door"]["person"]
    assert summary["entries"] == 1 and summary["exits"] == 1
    assert [o["door"].get("person", 0) for o in occupancy[9:13]] == [0, 1, 0, 1]  # occupancy follows each frame
    # inside at 10 of the 20 jittering frames and at frame 30 (its last, seen from one side only): each
    # step between a frame inside and one outside counts half, so the frames outside are not time inside
    assert visit["dwell_frames"] == pytest.approx(10.5)
    assert visit["dwell_s"] == pytest.approx(10.5 / FPS, abs=1e-3)


def test_time_in_zone_at_full_rate_is_the_frames_inside() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    feed(counter, [(f, 62 + 4 * f, 150.0) for f in range(60)])  # inside for x in (100, 200): frames 10..34
    (visit,) = counter.visits()
    assert (visit["entered_frame"], visit["left_frame"]) == (10, 35)
    assert visit["dwell_frames"] == 25 and visit["dwell_s"] == pytest.approx(25 / FPS, abs=1e-3)


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_time_in_zone_with_vid_stride_3_is_the_full_rate_figure_within_a_stride(offset: int) -> None:
    path = [(f, 60 + 1.3 * f, 150.0) for f in range(200)]  # inside for frames 31..107
    full, strided = ZoneCounter([Zone.parse(SQUARE)]), ZoneCounter([Zone.parse(SQUARE)])
    feed(full, path)
    feed(strided, path[offset::3])
    (a,), (b,) = full.visits(), strided.visits()
    assert abs(a["dwell_frames"] - b["dwell_frames"]) <= 3 and abs(a["dwell_s"] - b["dwell_s"]) <= 3 / FPS
    assert abs(a["entered_frame"] - b["entered_frame"]) < 3


def test_a_track_that_leaves_and_comes_back_enters_once_and_its_time_outside_is_not_counted() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    inside = [(f, 150.0, 150.0) for f in range(0, 10)]
    away = [(f, 300.0, 150.0) for f in range(10, 50)]
    back = [(f, 150.0, 150.0) for f in range(50, 60)]
    feed(counter, inside + away + back)
    (visit,) = counter.visits()
    assert visit["entered_frame"] == 0 and visit["left_frame"] == 10
    assert visit["dwell_frames"] == pytest.approx(19.0)  # 10 frames, then 10 again (its first half-frame unseen)


def test_a_track_is_named_by_the_class_it_had_most_often_inside() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    for frame, name in enumerate(["bus", "car", "car", "car", "bus", "car"]):
        counter.update(np.array([box_at(150, 150)]), [name], np.array([3]), frame, frame / FPS)
    assert counter.visits()[0]["class_name"] == "car"
    assert list(counter.summary()["door"]) == ["bus", "car"]  # occupancy saw both; the entry is the car's
    assert counter.summary()["door"]["car"]["entries"] == 1 and counter.summary()["door"]["bus"]["entries"] == 0


def test_frames_without_timestamps_give_time_in_frames_only() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    for frame in range(5):
        counter.update(np.array([box_at(150, 150)]), ["car"], np.array([1]), frame, None)
    (visit,) = counter.visits()
    assert visit["dwell_frames"] == 4 and visit["dwell_s"] is None
    assert counter.summary()["door"]["car"]["median_s"] is None
    assert counter.summary()["door"]["car"]["median_frames"] == 4


def test_a_brief_track_is_kept_as_an_event_but_not_counted() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    feed(counter, [(f, 150.0, 150.0) for f in range(3)], track=1)  # a flicker: 3 frames
    feed(counter, [(f, 150.0, 150.0) for f in range(10, 20)], track=2)
    assert [(e["track_id"], e["brief"]) for e in counter.visits()] == [(1, True), (2, False)]
    assert counter.summary()["door"]["person"]["entries"] == 1 and counter.summary()["door"]["person"]["max"] == 1


def test_a_track_last_seen_inside_left_there_unless_the_video_is_still_on_it() -> None:
    counter = ZoneCounter([Zone.parse(SQUARE)])
    for frame in range(20):  # track 1 leaves the frame from inside the zone at frame 9; track 2 stays to the end
        ids = [1, 2] if frame < 10 else [2]
        boxes = np.array([box_at(150, 150), box_at(160, 160)][: len(ids)])
        counter.update(boxes, ["car"] * len(ids), np.array(ids), frame, frame / FPS)
    gone, stays = counter.visits()
    assert (gone["left_frame"], gone["left_unseen"]) == (9, True) and gone["dwell_frames"] == 9
    assert (stays["left_frame"], stays["left_unseen"]) == (None, False)
    assert counter.summary()["door"]["car"]["exits"] == 1
