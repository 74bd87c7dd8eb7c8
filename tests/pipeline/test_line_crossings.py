"""--count-line: tracks that cross a line, once each, by direction; the CLI's summary and video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.core.errors import ConfigError
from detect_cli.pipeline.line_crossings import Line, LineCounter
from tests.conftest import SAMPLES


def walk(counter: LineCounter, track: int, centres: list[tuple[float, float]], name: str = "circle") -> None:
    for frame, (x, y) in enumerate(centres):
        counter.update(np.array([track]), np.array([[x - 5, y - 5, x + 5, y + 5]]), [name], frame)


def test_a_crossing_counts_once_by_direction() -> None:
    counter = LineCounter(Line(0, 100, 200, 100))  # drawn left to right: "in" is downwards
    walk(counter, 1, [(50, 60 + 10 * t) for t in range(9)])  # down through it
    walk(counter, 2, [(120, 140 - 10 * t) for t in range(9)], "star")  # up through it
    walk(counter, 3, [(80, 98), (80, 102), (80, 98), (80, 102), (80, 97)])  # jitters across: counted once
    assert counter.counts["in"] == {"circle": 2} and counter.counts["out"] == {"star": 1}
    # tracks 1 and 2 are on the line at frame 4: counted at 5, on the side they leave to
    assert [(e["track_id"], e["direction"], e["frame"]) for e in counter.events] == [
        (1, "in", 5),
        (2, "out", 5),
        (3, "in", 1),
    ]


def test_passing_beyond_the_segment_or_outside_a_track_is_not_a_crossing() -> None:
    counter = LineCounter(Line(0, 100, 200, 100))
    walk(counter, 1, [(250, 60 + 10 * t) for t in range(9)])  # crosses the line's extension, not the segment
    counter.update(np.array([-1, -1]), np.array([[40, 90, 50, 95], [40, 105, 50, 110]]), ["circle"] * 2, 0)
    counter.update(np.array([-1, -1]), np.array([[40, 105, 50, 110], [40, 90, 50, 95]]), ["circle"] * 2, 1)
    walk(counter, 2, [(50, 90), (50, 100), (50, 100), (50, 110)])  # stops on it, then leaves down: one "in"
    assert counter.total("in") == 1 and counter.total("out") == 0 and counter.events[0]["track_id"] == 2


def test_a_line_in_percent_is_placed_by_the_first_frame() -> None:
    line = Line.parse("0%, 50%, 100%, 50%")
    assert line.in_frame(640, 480).as_list() == [0, 240, 640, 240]
    assert Line.parse("10, 50%, 100%, 7").in_frame(200, 100).as_list() == [10, 50, 200, 7]
    counter = LineCounter(line)
    for frame, y in enumerate((200, 230, 250, 270)):
        counter.update(np.array([4]), np.array([[100, y - 5, 110, y + 5]]), ["star"], frame, size=(640, 480))
    assert counter.counts["in"] == {"star": 1} and counter.as_dict()["line"] == [0, 240, 640, 240]


@pytest.mark.parametrize(
    "text", ["1,2,3", "a,b,c,d", "1,2,3,nan", "5,5,5,5", "50%,1%,50%,1%", "5,%,3,4", "0,0,1e308,1e308", "0,0,1e9%,5"]
)
def test_a_bad_line_is_one_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--count-line"):
        Line.parse(text)


def test_cli_counts_the_shipped_clip(tmp_path: Path, demo) -> None:
    """Two objects of the shipped clip cross x = 100 leftwards (ground truth: frames 22 and 40,
    0-based); the line turns tracking on, and the saved video draws it."""
    clip = SAMPLES / "video" / "shapes.mp4"
    result = CliRunner().invoke(
        app,
        [
            str(clip),
            "--model",
            "demo",
            "--threads",
            "1",
            "--backend",
            "torch",
            "--count-line",
            "100,0,100,320",
            "--json",
            "--save",
            str(tmp_path / "s"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    crossings = document["summary"]["videos"][str(clip)]["line_crossings"]
    assert crossings["in"] == {"circle": 2} and crossings["out"] == {}
    assert [abs(e["frame"] - truth) <= 2 for e, truth in zip(crossings["events"], (22, 40))] == [True, True]
    assert all("track_id" in box for record in document["images"] for box in record["detections"])
    assert "total 2 / 0" in result.stderr and "circle 2 / 0" in result.stderr
    assert (tmp_path / "s" / "shapes.mp4").is_file()


def test_cli_refuses_a_bad_line() -> None:
    result = CliRunner().invoke(app, [str(SAMPLES / "video" / "shapes.mp4"), "--count-line", "1,2"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "X1,Y1,X2,Y2" in result.stderr


@pytest.fixture(scope="session")
def demo() -> None:
    """Marks the tests that run the packaged demo model as slow (conftest.SLOW_FIXTURES)."""
