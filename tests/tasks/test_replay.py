"""--resume's replay: the records a results file holds, read back as results (JSONL and CSV alike)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from detect_cli.core.detections import Detections
from detect_cli.outputs.records import CSV_COLUMNS, csv_rows, image_record
from detect_cli.tasks.replay import recorded_results
from tests.helpers import NAMES, make_result


def _frames() -> list:
    tracked = Detections([(0, 0, 10, 10), (5, 5, 20, 20)], [0.9, 0.4], [0, 1], track_id=[3, -1])
    frames = [replace(make_result(0, source="clip.mp4", detections=tracked), frame=k, time_s=k / 25) for k in range(3)]
    empty = replace(make_result(0, source="clip.mp4", detections=Detections.empty()), frame=3, time_s=0.12)
    return [*frames, empty, make_result(1, source="bad.jpg", error="cannot read")]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_file_reads_back_as_the_results_it_holds(tmp_path: Path, fmt: str) -> None:
    import csv
    import json

    out = tmp_path / f"r.{fmt}"
    results = _frames()
    with open(out, "w", encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            fh.writelines(json.dumps(image_record(r)) + "\n" for r in results)
        else:
            writer = csv.DictWriter(fh, CSV_COLUMNS)
            writer.writeheader()
            for result in results:
                writer.writerows(csv_rows(result))
    back = list(recorded_results(out, fmt, NAMES))
    assert [(r.source, r.frame) for r in back] == [("clip.mp4", k) for k in range(4)]  # the error record is left out
    first = back[0]
    assert first.detections == results[0].detections and first.detections.track_id.tolist() == [3, -1]
    assert first.time_s == pytest.approx(0.0) and back[2].time_s == pytest.approx(0.08)
    assert len(back[3].detections) == 0 and (first.width, first.height) == (640, 480)
