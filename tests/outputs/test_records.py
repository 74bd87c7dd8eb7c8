"""`results`: the records every sink writes, CSV rows, and the running `RunSummary`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.results import STAGES, ImageResult, Timing
from detect_cli.outputs.records import CSV_COLUMNS, box_records, csv_rows, image_record
from detect_cli.pipeline.run_summary import RunSummary
from tests.helpers import NAMES, make_result


@pytest.mark.parametrize("n", [0, 1, 7])
def test_image_record_of_ok_result(n: int):
    result = make_result(3, n, width=320, height=240)
    record = image_record(result)
    assert list(record) == [
        "index",
        "source",
        "status",
        "error",
        "width",
        "height",
        "detections",
        "speed_ms",
        "warnings",
    ]
    assert record["warnings"] == []
    assert record["index"] == 3 and record["source"] == result.source
    assert (record["status"], record["error"]) == ("ok", None)
    assert (record["width"], record["height"]) == (320, 240)
    assert len(record["detections"]) == n
    for det, (box, conf, cls) in zip(record["detections"], result.detections):
        assert det["class_id"] == cls and det["class_name"] == NAMES[cls]
        assert det["confidence"] == pytest.approx(conf, abs=5e-5)
        assert det["box"] == pytest.approx(box.tolist(), abs=5e-3)
        assert all(round(v, 2) == v for v in det["box"])  # two decimals
        assert round(det["confidence"], 4) == det["confidence"]
    json.dumps(record, allow_nan=False)  # plain JSON types only


def test_image_record_of_error_result():
    record = image_record(make_result(5, error="empty file (0 bytes)"))
    assert record["status"] == "error"
    assert record["error"] == "empty file (0 bytes)"
    assert record["detections"] == []
    assert record["width"] is None and record["height"] is None


def test_warnings_reach_the_record_and_the_summary():
    from dataclasses import replace

    result = replace(make_result(2), warnings=("animated GIF: only the first frame was used",))
    assert image_record(result)["warnings"] == ["animated GIF: only the first frame was used"]
    summary = RunSummary()
    summary.add(result)
    assert summary.failed == 0 and summary.images == 1
    assert summary.as_dict()["warnings"] == [{"source": result.source, "warning": result.warnings[0]}]


def test_unknown_class_ids_get_their_number_as_name():
    d = Detections([[0, 0, 5, 5], [1, 1, 4, 4]], [0.9, 0.8], [1, 42])
    result = make_result(detections=d, names={1: "car"})
    assert [r["class_name"] for r in box_records(result)] == ["car", "42"]


def test_box_values_are_python_floats_rounded_to_fixed_decimals():
    d = Detections([[10.004, 20.006, 30.5, 40.123456]], [0.987654], [0])
    [record] = box_records(make_result(detections=d))
    assert record["box"] == [10.0, 20.01, 30.5, 40.12]
    assert record["confidence"] == 0.9877
    assert all(type(v) is float for v in record["box"]) and type(record["confidence"]) is float
    assert type(record["class_id"]) is int


@pytest.mark.parametrize(("n", "rows"), [(0, 1), (1, 1), (4, 4)])
def test_csv_rows_one_per_box_or_one_for_a_boxless_image(n: int, rows: int):
    result = make_result(1, n)
    got = csv_rows(result)
    assert len(got) == rows
    assert all(set(row) <= set(CSV_COLUMNS) for row in got)
    for row, det in zip(got, image_record(result)["detections"]):
        assert [row["x1"], row["y1"], row["x2"], row["y2"]] == det["box"]
        assert row["confidence"] == det["confidence"] and row["class_name"] == det["class_name"]
    if n == 0:
        assert "x1" not in got[0] and got[0]["status"] == "ok"


def test_csv_row_of_error_result():
    [row] = csv_rows(make_result(2, error="HTTP 404 Not Found"))
    assert row["status"] == "error" and row["error"] == "HTTP 404 Not Found"
    assert "class_id" not in row


def test_timing_as_dict_rounds_to_microseconds():
    t = Timing(read=1.23456, preprocess=0.0004, inference=12.0, postprocess=3.3333333)
    assert t.as_dict() == {"read": 1.235, "preprocess": 0.0, "inference": 12.0, "postprocess": 3.333}
    assert list(t.as_dict()) == list(STAGES)


def test_ok_and_class_name():
    assert make_result().ok
    assert not make_result(error="x").ok
    r = ImageResult("a.jpg", 0, names={0: "person"})
    assert r.class_name(0) == "person" and r.class_name(3) == "3"


def test_run_summary_adds_up():
    d1 = Detections(np.tile([0, 0, 5, 5], (3, 1)), [0.9, 0.8, 0.7], [0, 1, 0])
    d2 = Detections(np.tile([0, 0, 5, 5], (2, 1)), [0.6, 0.5], [0, 9])
    results = [
        make_result(0, detections=d1, timing=Timing(2.0, 4.0, 10.0, 1.0)),
        make_result(1, error="not an image (unrecognised file format)", source="bad.jpg"),
        make_result(2, detections=d2, timing=Timing(4.0, 2.0, 30.0, 3.0)),
        make_result(3, detections=Detections.empty(), timing=Timing(0.0, 0.0, 20.0, 2.0)),
    ]
    summary = RunSummary()
    for r in results:
        summary.add(r)
    assert (summary.images, summary.failed, summary.detections) == (3, 1, 5)
    assert dict(summary.class_counts) == {"person": 3, "car": 1, "9": 1}
    assert summary.ms_per_image() == pytest.approx(
        {"read": 2.0, "preprocess": 2.0, "inference": 20.0, "postprocess": 2.0}
    )
    assert summary.failures == [("bad.jpg", "not an image (unrecognised file format)")]
    data = summary.as_dict()
    assert list(data["class_counts"]) == ["9", "car", "person"]  # sorted by name
    assert data["failures"] == [{"source": "bad.jpg", "error": "not an image (unrecognised file format)"}]
    assert data["interrupted"] is False
    json.dumps(data, allow_nan=False)


def test_empty_run_summary_has_no_division_by_zero():
    summary = RunSummary()
    summary.add(make_result(error="boom"))
    assert summary.images == 0 and summary.failed == 1
    assert summary.ms_per_image() == dict.fromkeys(STAGES, 0.0)
    assert summary.as_dict()["ms_per_image"] == dict.fromkeys(STAGES, 0.0)
