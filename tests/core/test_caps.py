"""The cap tally: passes that came back full, boxes the image cap dropped, summed over a run."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections


@pytest.mark.parametrize(
    ("found", "max_det", "expected"),
    [
        ([3, 300, 12], 300, Capped(3, 1, 1, 1)),  # one tile came back with exactly the cap
        ([299], 300, Capped(1, 0, 1, 0)),  # under the cap: nothing was cut
        ([], 300, Capped(0, 0, 1, 0)),  # no pass at all (an empty image list cannot happen, but adds up)
        ([5, 5], 5, Capped(2, 2, 1, 1)),
    ],
)
def test_of_passes(found: list[int], max_det: int, expected: Capped) -> None:
    assert Capped.of_passes(found, max_det) == expected


def test_cut_and_sum() -> None:
    one = Capped.of_passes([10, 10], 300).cut(7)
    assert one == Capped(2, 0, 1, 0, 1, 7) and one.bit
    assert Capped.of_passes([1], 300).cut(0) == Capped(1, 0, 1, 0) and not Capped(1, 0, 1, 0).bit
    total = one + Capped(80, 4, 1, 1)
    assert total == Capped(82, 4, 2, 1, 1, 7)
    assert [what for what, _ in total.lines()] == ["passes that hit --max-det", "boxes cut by --max-det-image"]
    assert "raise --max-det" in total.advice() and "cut 7 merged boxes" in total.advice()


def test_the_tally_rides_on_the_detections_through_indexing_and_tracking() -> None:
    caps = Capped(4, 1, 1, 1)
    detections = Detections([(0, 0, 1, 1), (2, 2, 3, 3)], [0.9, 0.4], [0, 1]).with_metadata(**{CAPS: caps})
    assert detections[detections.confidence > 0.5].metadata[CAPS] == caps
    assert detections.with_tracks(np.array([1, -1])).metadata[CAPS] == caps
    assert Detections.merge([detections, detections]).metadata == {}  # a new set: its own facts
    assert Detections.empty().metadata == {}
