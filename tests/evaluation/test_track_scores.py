"""evaluate --tracks' MOT files: checked row by row (file:line), indexed by frame, scored with bounds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.evaluation import track_scores as tracks
from detect_cli.evaluation.track_scores import (
    MAX_BOXES_PER_FRAME,
    check_truth,
    parse_mot,
    read_mot,
    score_tracks,
    undefined,
)

BAD_ROWS = {
    "text line": ("1,1,10,10,5,5\nhello world\n", "gt.txt:2: expected at least 6 values"),
    "text in a number": ("1,one,10,10,5,5\n", "gt.txt:1: expected numbers"),
    "too few values": ("1,1,10,10,5\n", "gt.txt:1: expected at least 6 values frame,id,x,y,w,h, not 5"),
    "NaN size": ("1,1,10,10,nan,5\n", "gt.txt:1: values must be finite numbers"),
    "inf position": ("1,1,inf,10,5,5\n", "gt.txt:1: values must be finite numbers"),
    "negative width": ("1,1,10,10,-5,5\n", "gt.txt:1: width and height must not be negative"),
    "negative height": ("2,1,10,10,5,5\n1,1,10,10,5,-1\n", "gt.txt:2: width and height must not be negative"),
    "frame 0": ("0,1,10,10,5,5\n", "gt.txt:1: the frame must be a whole number from 1"),
    "frame -5": ("-5,1,10,10,5,5\n", "gt.txt:1: the frame must be a whole number from 1"),
    "frame 1.5": ("1.5,1,10,10,5,5\n", "gt.txt:1: the frame must be a whole number from 1"),
    "id 2.5": ("1,2.5,10,10,5,5\n", "gt.txt:1: the id must be a whole number"),
    "an id twice in a frame": ("1,2,10,10,5,5\n1,2,30,30,5,5\n", "gt.txt: frame 1 has id 2 twice"),
    "binary": ("\x00\x01\x02,\x03\n", "gt.txt:1: expected at least 6 values"),
}


@pytest.mark.parametrize("name", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_a_bad_row_is_refused_with_file_and_line(name: str) -> None:
    text, message = BAD_ROWS[name]
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_mot(text, "gt.txt")


def test_rows_are_indexed_by_frame_whatever_their_order() -> None:
    rows = parse_mot("3,1,0,0,2,2\n1,2,5,5,1,1\n\n1,1,0,0,4,4,1,-1,-1,-1\n3,7,1,1,1,1\n")
    assert rows.frames.tolist() == [1, 3]
    ids, boxes = rows.frame(1)
    assert ids.tolist() == [1, 2] and boxes.tolist() == [[0, 0, 4, 4], [5, 5, 1, 1]]
    assert rows.frame(3)[0].tolist() == [1, 7] and len(rows.frame(2)[0]) == 0 and len(rows.frame(99)[0]) == 0
    assert parse_mot("1 1 0 0 2 2\n2 1 0 0 2 2\n").frames.tolist() == [1, 2]  # space-separated, as motmetrics reads


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: (p.write_text(""), p)[1], "has no rows"),
        (lambda p: (p.write_text("\n\n  \n"), p)[1], "has no rows"),
        (lambda p: (p.symlink_to("/dev/zero"), p)[1], "not a regular file (character device)"),
        (lambda p: p.parent, "a folder, not a file"),
    ],
    ids=["empty", "blank lines", "dev-zero", "folder"],
)
def test_files_that_are_no_ground_truth_are_refused(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_mot(make(tmp_path / "gt.txt"))


def test_a_crowded_frame_is_refused_before_any_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    n = MAX_BOXES_PER_FRAME + 1
    rows = parse_mot("".join(f"1,{i},{i},0,1,1\n" for i in range(n)), "gt.txt")
    with pytest.raises(ConfigError, match=f"gt.txt: frame 1 has {n} boxes, more than the {MAX_BOXES_PER_FRAME}"):
        check_truth(rows)
    monkeypatch.setattr(tracks, "MAX_PAIRS", 50)
    small = parse_mot("".join(f"1,{i},{10 * i},0,5,5\n" for i in range(10)))
    with pytest.raises(ConfigError, match="frame 1: 10 ground-truth x 10 predicted boxes are more than the 50 pairs"):
        score_tracks(small, small)


def test_a_large_file_is_parsed_once_and_scored_without_a_scan_per_frame() -> None:
    frames, per_frame = 20_000, 10  # 200,000 rows
    f, i = np.repeat(np.arange(1, frames + 1), per_frame), np.tile(np.arange(1, per_frame + 1), frames)
    text = "".join(f"{a},{b},{10 * b},20,8,8,1,1,1\n" for a, b in zip(f.tolist(), i.tolist()))
    start = time.perf_counter()
    rows = parse_mot(text)
    scores = score_tracks(rows, rows, frames=range(frames - 50, frames + 1))
    assert scores["idf1"] == 1.0 and scores["num_objects"] == 51 * per_frame
    assert time.perf_counter() - start < 20  # a scan of 200,000 rows for each of the frames would not be


def test_undefined_ratios_are_none_and_said(tmp_path: Path) -> None:
    """No ground truth in the frames that ran: MOTA has no denominator. Never NaN or -Infinity in JSON."""
    gt = parse_mot("5,1,1,1,5,5\n")
    scores = score_tracks(gt, "1,1,1,1,5,5\n", frames=[1])
    assert scores["mota"] is None and scores["motp"] is None and scores["num_false_positives"] == 1
    assert undefined(scores) == [
        "MOTA is undefined (null): no ground-truth box in the frames that ran",
        "MOTP is undefined (null): no predicted box matched a ground-truth box",
    ]
    found_nothing = score_tracks(gt, "", frames=[5])
    assert found_nothing["mota"] == 0.0 and found_nothing["motp"] is None and found_nothing["num_misses"] == 1


def test_scores_of_perfect_and_swapped_tracks(tmp_path: Path) -> None:
    gt = tmp_path / "gt.txt"
    rows = [f"{t + 1},{i},{10 + 6 * t + 100 * i},40,40,40,1,0,1\n" for t in range(20) for i in (1, 2)]
    gt.write_text("".join(rows))
    perfect = score_tracks(gt, gt)
    assert perfect["idf1"] == 1.0 and perfect["mota"] == 1.0 and perfect["num_switches"] == 0
    swapped = "".join(r if int(r.split(",")[0]) <= 10 else r.replace(",1,", ",9,", 1) for r in rows)
    scores = score_tracks(gt, swapped)
    assert scores["num_switches"] == 1 and scores["idf1"] < 0.9 and scores["mota"] < 1.0
    half = score_tracks(gt, "".join(rows[:20]), frames=range(1, 11))  # only the frames that ran count
    assert half["idf1"] == 1.0 and half["num_objects"] == 20
