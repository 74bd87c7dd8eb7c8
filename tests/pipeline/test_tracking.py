"""--track: ids through crossings, sequences (videos, folders of frames), MOT rows, scoring, resuming."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult, Timing
from detect_cli.outputs.mot import MotSink, mot_rows
from detect_cli.pipeline.tracking import assign_tracks, make_tracker, track_stream
from detect_cli.tasks.resume import prepare_resume, write_sidecar

NAMES = {0: "circle", 1: "square"}


def crossing(t: int) -> Detections:
    """Two boxes that meet and overlap in the middle, moving in opposite directions."""
    a = [10 + 6 * t, 40, 50 + 6 * t, 80]
    b = [190 - 6 * t, 50, 230 - 6 * t, 90]
    return Detections([a, b], [0.9, 0.85], [0, 1])


def test_ids_survive_a_crossing() -> None:
    tracker = make_tracker("bytetrack")
    ids = [assign_tracks(tracker, crossing(t)).tolist() for t in range(35)]
    assert ids[0][0] != ids[0][1] and -1 not in ids[0]
    assert all(frame == ids[0] for frame in ids), "an id changed or swapped at the crossing"


@pytest.mark.parametrize("name", ["bytetrack", "botsort"])
def test_both_trackers_keep_their_ids_and_start_where_asked(name: str) -> None:
    tracker = make_tracker(name, first_id=41)
    ids = [assign_tracks(tracker, crossing(t)).tolist() for t in range(10)]
    assert sorted(ids[-1]) == [41, 42] and ids[-1] == ids[0]


@pytest.mark.parametrize("name", ["bytetrack", "botsort"])
def test_one_object_scored_as_two_classes_is_one_track(name: str) -> None:
    """An NMS-free head can give one place two classes (the same box); the object keeps one id
    and the double, left in the results, is in no track."""
    tracker = make_tracker(name)
    tracked, doubles = set(), []
    for t in range(20):
        box = [10 + 4 * t, 40, 50 + 4 * t, 80]
        other = [200, 150 - 3 * t, 240, 190 - 3 * t]
        lead = 0.7 if t % 2 else 0.45  # the two readings take turns at being the more confident
        frame = Detections([box, box, other], [lead, 1.15 - lead, 0.9], [0, 1, 0])
        ids = assign_tracks(tracker, frame)
        pair = ids[:2].tolist()
        assert sorted(pair)[0] == -1 and sorted(pair)[1] != -1, f"frame {t}: {pair}"
        tracked.add(max(pair))
        doubles.append(pair.index(-1))
        assert ids[2] not in (-1, *pair)
    assert len(tracked) == 1, f"the object's id changed: {sorted(tracked)}"
    assert set(doubles) == {0, 1}  # the less confident box is the one left out, whichever it is


def result(source: str, index: int, detections: Detections, frame: int | None = None) -> ImageResult:
    return ImageResult(source, index, detections, NAMES, 320, 320, Timing(), frame=frame)


def test_each_video_and_each_folder_of_frames_is_its_own_sequence() -> None:
    stream = [result("/v/a.mp4", 0, crossing(t), frame=t) for t in range(3)]
    stream += [result(f"/frames/{t:03d}.png", 1 + t, crossing(t)) for t in range(3)]
    stream += [result(f"/other/{t:03d}.png", 4 + t, crossing(t)) for t in range(2)]
    tracked = list(track_stream(stream))
    ids = [r.detections.track_id.tolist() for r in tracked]
    assert ids[0] == ids[2] == [1, 2]
    assert ids[3] == ids[5] == [1, 2]  # a new tracker: the folder of frames starts again at 1
    assert ids[6] == [1, 2]
    assert [tuple(r.detections.xyxy.ravel()) for r in tracked] == [tuple(r.detections.xyxy.ravel()) for r in stream]


def test_mot_rows_and_one_sequence_per_file() -> None:
    detections = Detections([[10, 20, 40, 60], [0, 0, 5, 5]], [0.9, 0.3], [0, 1], track_id=[3, -1])
    assert mot_rows(5, detections) == ["5,3,10,20,30,40,0.9,-1,-1,-1\n", "5,-1,0,0,5,5,0.3,-1,-1,-1\n"]
    buffer = io.StringIO()
    sink = MotSink(buffer)
    sink.write(result("/v/a.mp4", 0, detections, frame=0))
    sink.write(result("/v/a.mp4", 0, detections, frame=4))
    assert [line.split(",")[0] for line in buffer.getvalue().splitlines()] == ["1", "1", "5", "5"]
    with pytest.raises(ConfigError, match="one sequence"):
        sink.write(result("/v/b.mp4", 1, detections, frame=0))


def test_csv_resume_keeps_the_finished_frames_of_a_cut_video(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write_sidecar(out, {"fp": 1}, "csv")
    import io

    from detect_cli.outputs.formats import open_sink

    stream = io.StringIO()
    sink = open_sink("csv", stream)
    for t in range(4):
        sink.write(result("/v/a.mp4", 0, crossing(t).with_tracks(np.array([7, 8])), frame=t))
    out.write_text(stream.getvalue()[:-10])  # the crash cut frame 3's last row
    state = prepare_resume(out, "csv", {"fp": 1}, retry_failed=False)
    assert state.videos == {0: (2, 8)} and state.dropped_partial
    assert [line.split(",")[13] for line in out.read_text().splitlines()[1:]] == ["0", "0", "1", "1", "2", "2"]


# --- with the demo model (slow) -------------------------------------------------------------------------------


def test_demo_model_keeps_ids_through_a_crossing(tmp_path: Path, demo) -> None:
    """A circle and a square cross, one in front of the other: each keeps one id, and they never swap.
    (While one hides the other the model may name the blob either class: identities are checked on
    the confident boxes, before and after.)"""
    from detect_cli.demo.videos import write_video

    video, _ = write_video(tmp_path / "cross.mp4", 40, seed=1, size=160, crossing=True)
    out = tmp_path / "r.jsonl"
    args = [
        str(video),
        "--model",
        "demo",
        "--imgsz",
        "160",
        "--threads",
        "1",
        "--backend",
        "torch",
        "--track",
        "--out",
        str(out),
    ]
    run = CliRunner().invoke(app, args, env={"COLUMNS": "200"})  # the summary's rows on one line each
    assert run.exit_code == 0, run.stderr
    ids: dict[str, set[int]] = {"circle": set(), "square": set()}
    for line in out.read_text().splitlines():
        for box in json.loads(line)["detections"]:
            if box["track_id"] is not None and box["class_name"] in ids and box["confidence"] >= 0.8:
                ids[box["class_name"]].add(box["track_id"])
    assert len(ids["circle"]) == 1 and len(ids["square"]) == 1 and ids["circle"] != ids["square"]
    assert "1 circle" in run.stderr and "1 square" in run.stderr  # distinct objects in the per-video summary


@pytest.fixture(scope="session")
def demo() -> None:
    """Marks the tests that run the packaged demo model as slow (conftest.SLOW_FIXTURES)."""


def test_distinct_objects_by_majority_class_and_brief_tracks_apart() -> None:
    """A track counts under the class it was given most often (its first frames, entering half
    seen, were misnamed); a track seen in fewer than MIN_TRACK_FRAMES frames is a brief one, shown
    apart and not counted as an object."""
    from detect_cli.pipeline.video_stats import MIN_TRACK_FRAMES, VideoStats

    stats = VideoStats()
    for t in range(12):
        boxes, classes, tracks = [[10, 10, 40, 40]], [1 if t < 3 else 0], [7]  # square x3, then circle x9
        if t < MIN_TRACK_FRAMES - 1:
            boxes, classes, tracks = [*boxes, [100, 100, 130, 130]], [*classes, 1], [*tracks, 8]  # a flicker
        detections = Detections(boxes, [0.9] * len(boxes), classes, tracks)
        stats.add(result("/v/a.mp4", 0, detections, frame=t))
    assert stats.unique_objects() == {"circle": 1} and stats.brief_tracks == 1
    assert stats.objects_text() == "1 circle, +1 brief"
    assert stats.as_dict()["unique_objects"] == {"circle": 1} and stats.as_dict()["brief_tracks"] == 1
