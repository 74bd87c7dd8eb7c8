"""Sinks: every format parses back, carries the same numbers, and streams as it goes."""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
from pathlib import Path

import pytest
from faster_coco_eval import COCO, COCOeval_faster

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.outputs.formats import FORMATS, SINKS, format_for_path, open_sink
from detect_cli.outputs.records import SCHEMA_VERSION
from detect_cli.pipeline.run_summary import RunSummary
from tests.helpers import NAMES, make_result

META = {"model": {"spec": "demo", "names": {str(k): v for k, v in NAMES.items()}}, "settings": {"conf": 0.25}}


def make_results() -> list[ImageResult]:
    return [
        make_result(0, 3, seed=10, source="/data/a.jpg"),
        make_result(1, 0, source="/data/empty.png"),  # decoded fine, no boxes
        make_result(2, error="cannot decode image: image file is truncated", source="/data/broken.jpg"),
        make_result(3, 5, seed=11, source='/data/ünï cödé, "quoted".jpg', width=800, height=600),
        make_result(4, 1, seed=12, source="http://127.0.0.1/photo?id=7&x=1"),
    ]


def summarise(results: list[ImageResult]) -> RunSummary:
    summary = RunSummary(wall_s=1.5)
    for r in results:
        summary.add(r)
    return summary


def write_all(fmt: str, results: list[ImageResult], stream: io.StringIO | None = None) -> str:
    stream = stream or io.StringIO()
    sink = open_sink(fmt, stream, copy.deepcopy(META))
    for r in results:
        sink.write(r)
    sink.close(summarise(results))
    return stream.getvalue()


# --- parse each format back into {index: [(class_id, confidence, x1, y1, x2, y2), ...]} ---------------------


def boxes_from_json(text: str) -> dict[int, list[tuple]]:
    return {
        im["index"]: [(d["class_id"], d["confidence"], *d["box"]) for d in im["detections"]]
        for im in json.loads(text)["images"]
    }


def boxes_from_jsonl(text: str) -> dict[int, list[tuple]]:
    records = [json.loads(line) for line in text.splitlines()]
    return {r["index"]: [(d["class_id"], d["confidence"], *d["box"]) for d in r["detections"]] for r in records}


def boxes_from_csv(text: str) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        boxes = out.setdefault(int(row["index"]), [])
        if row["class_id"]:
            boxes.append(
                (int(row["class_id"]), float(row["confidence"]), *(float(row[k]) for k in ("x1", "y1", "x2", "y2")))
            )
    return out


def boxes_from_coco(text: str) -> dict[int, list[tuple]]:
    doc = json.loads(text)
    out: dict[int, list[tuple]] = {im["id"] - 1: [] for im in doc["images"]}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        out[a["image_id"] - 1].append((a["category_id"], a["score"], x, y, round(x + w, 6), round(y + h, 6)))
    return out


PARSERS = {"json": boxes_from_json, "jsonl": boxes_from_jsonl, "csv": boxes_from_csv, "coco": boxes_from_coco}


def test_every_format_has_a_parser():
    assert set(PARSERS) == set(FORMATS) == set(SINKS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_numbers_in_every_format(fmt: str):
    results = make_results()
    got = PARSERS[fmt](write_all(fmt, results))
    expected_images = {r.index for r in results if r.ok or fmt != "coco"}  # COCO lists failures apart
    assert set(got) == expected_images
    for r in results:
        if r.index not in got:
            continue
        assert len(got[r.index]) == len(r.detections)
        for row, (box, conf, cls) in zip(got[r.index], r.detections):
            assert row[0] == cls
            assert row[1] == pytest.approx(conf, abs=5e-5)
            assert row[2:] == pytest.approx(box.tolist(), abs=5e-3)


def test_formats_agree_to_the_digit():
    results = make_results()
    parsed = {fmt: PARSERS[fmt](write_all(fmt, results)) for fmt in FORMATS}
    reference = parsed["json"]
    for fmt in ("jsonl", "csv"):
        assert parsed[fmt] == reference, fmt
    coco = parsed["coco"]  # x2 = x + w, y2 = y + h: exact after rounding away float noise
    assert coco == {index: boxes for index, boxes in reference.items() if index in coco}


def test_json_document():
    results = make_results()
    doc = json.loads(write_all("json", results))
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["model"] == META["model"] and doc["settings"] == META["settings"]
    assert [im["index"] for im in doc["images"]] == [0, 1, 2, 3, 4]
    assert [im["status"] for im in doc["images"]] == ["ok", "ok", "error", "ok", "ok"]
    assert doc["images"][2]["error"].startswith("cannot decode image")
    assert doc["images"][3]["source"] == '/data/ünï cödé, "quoted".jpg'
    assert doc["summary"] == summarise(results).as_dict()
    assert doc["summary"]["images"] == 4 and doc["summary"]["failed"] == 1 and doc["summary"]["detections"] == 9


@pytest.mark.parametrize("n", [0, 1])
def test_json_with_few_images_and_no_summary_is_still_valid(n: int):
    stream = io.StringIO()
    with open_sink("json", stream) as sink:
        for r in make_results()[:n]:
            sink.write(r)
    doc = json.loads(stream.getvalue())
    assert doc == {"schema_version": SCHEMA_VERSION, "images": doc["images"], "summary": None}
    assert len(doc["images"]) == n


@pytest.mark.parametrize("fmt", FORMATS)
def test_close_twice_writes_the_end_once(fmt: str):
    stream = io.StringIO()
    sink = open_sink(fmt, stream)
    sink.write(make_result(0, 2))
    sink.close(RunSummary())
    once = stream.getvalue()
    sink.close(RunSummary())
    sink.__exit__(None, None, None)
    assert stream.getvalue() == once


def test_jsonl_one_line_per_image():
    results = make_results()
    lines = write_all("jsonl", results).splitlines()
    assert len(lines) == len(results)
    records = [json.loads(line) for line in lines]
    assert [r["source"] for r in records] == [r.source for r in results]
    assert records[2]["status"] == "error" and records[1]["detections"] == []


@pytest.mark.parametrize(
    ("fmt", "lines_before", "lines_per_image"), [("jsonl", 0, None), ("csv", 1, None), ("json", 1, 1)]
)
def test_streaming_sinks_flush_each_image_to_disk(tmp_path: Path, fmt: str, lines_before: int, lines_per_image):
    path = tmp_path / f"out.{fmt}"
    results = make_results()
    with open(path, "w", encoding="utf-8") as stream:  # buffered: only flush() puts it on disk
        sink = open_sink(fmt, stream)
        written = lines_before
        for r in results:
            sink.write(r)
            on_disk = path.read_text(encoding="utf-8")
            written += lines_per_image or (1 if fmt == "jsonl" else max(1, len(r.detections)))
            assert on_disk.count("\n") == written, f"after image {r.index}"
            assert r.source.split("/")[-1].split(",")[0] in on_disk
        sink.close(None)


def test_csv_one_row_per_box_plus_one_per_boxless_or_failed_image():
    results = make_results()
    rows = list(csv.DictReader(io.StringIO(write_all("csv", results))))
    assert len(rows) == 3 + 1 + 1 + 5 + 1
    assert [int(r["index"]) for r in rows] == [0] * 3 + [1] + [2] + [3] * 5 + [4]
    boxless, failed = rows[3], rows[4]
    assert boxless["status"] == "ok" and boxless["class_id"] == "" and boxless["x1"] == ""
    assert failed["status"] == "error" and failed["error"].startswith("cannot decode") and failed["width"] == ""
    assert rows[5]["source"] == '/data/ünï cödé, "quoted".jpg'  # commas and quotes survive
    assert rows[0]["class_name"] == NAMES[int(rows[0]["class_id"])]


def test_coco_loads_as_dataset_and_results(tmp_path: Path):
    results = make_results()
    path = tmp_path / "out.coco.json"
    path.write_text(write_all("coco", results), encoding="utf-8")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["info"]["schema_version"] == SCHEMA_VERSION
    assert doc["errors"] == [{"source": "/data/broken.jpg", "error": "cannot decode image: image file is truncated"}]
    assert doc["categories"] == [{"id": i, "name": n} for i, n in sorted(NAMES.items())]
    assert [im["id"] for im in doc["images"]] == [1, 2, 4, 5]
    assert doc["images"][2] == {"id": 4, "file_name": results[3].source, "width": 800, "height": 600}
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 10))
    for a in doc["annotations"]:
        _, _, w, h = a["bbox"]
        assert w > 0 and h > 0  # xywh, not xyxy
        assert a["area"] == pytest.approx(w * h, abs=0.01)

    gt = COCO(str(path))
    assert sorted(gt.getImgIds()) == [1, 2, 4, 5]
    assert len(gt.getAnnIds()) == 9
    dt = gt.loadRes(copy.deepcopy(doc["annotations"]))
    assert len(dt.getAnnIds()) == 9
    evaluator = COCOeval_faster(gt, dt, "bbox", print_function=lambda *a, **k: None)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)  # the boxes match themselves exactly: AP 1.0


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("out.json", "json"),
        ("OUT.JSON", "json"),
        ("out.jsonl", "jsonl"),
        ("out.ndjson", "jsonl"),
        ("out.csv", "csv"),
        ("out.coco.json", "coco"),
        ("Results.COCO.json", "coco"),
        ("dir.csv/out.coco.json", "coco"),
        ("my.coco.jsonl", "jsonl"),
    ],
)
def test_format_for_path(name: str, fmt: str):
    assert format_for_path(Path(name)) == fmt


@pytest.mark.parametrize("name", ["out.txt", "out", "out.json.gz", "out.coco", "out.xml"])
def test_format_for_unknown_extension_is_a_config_error(name: str):
    with pytest.raises(ConfigError) as info:
        format_for_path(Path(name))
    assert name in str(info.value) and "--format" in str(info.value)
    assert format_for_path(Path(name), "csv") == "csv"  # an explicit --format wins


def test_open_sink_unknown_format():
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        open_sink("xml", io.StringIO())


class _FailingStream(io.StringIO):
    """A stream whose flush fails as a full disk (or a closed pipe) makes it fail."""

    def __init__(self, error: OSError, name: str = "/data/r.jsonl") -> None:
        super().__init__()
        self.error, self.name = error, name

    def flush(self) -> None:
        raise self.error


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_full_disk_is_one_config_error_naming_the_file(fmt: str) -> None:
    stream = _FailingStream(OSError(28, "No space left on device"))
    with pytest.raises(ConfigError, match=r"--out /data/r.jsonl: cannot write: No space left on device"):
        with open_sink(fmt, stream, META) as sink:
            for result in make_results():
                sink.write(result)


def test_devfull_for_real() -> None:
    stream = open("/dev/full", "w", encoding="utf-8")
    try:
        with pytest.raises(ConfigError, match="/dev/full: cannot write: No space left on device"):
            open_sink("jsonl", stream, META).write(make_results()[0])
    finally:
        with contextlib.suppress(OSError):  # what is still buffered fails again (the CLI does the same)
            stream.close()


def test_a_closed_pipe_is_left_to_the_cli() -> None:
    stream = _FailingStream(BrokenPipeError(32, "Broken pipe"), name="<stdout>")
    with pytest.raises(BrokenPipeError):
        open_sink("jsonl", stream, META).write(make_results()[0])


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "coco"])
def test_a_file_name_that_is_not_utf8_is_written_and_reads_back(tmp_path: Path, fmt: str) -> None:
    """`detect DIR --out r.jsonl` with a file named b'b\\xff.jpg' (os.fsdecode: 'b\\udcff.jpg') exited 1
    with no record at all: UTF-8 cannot carry the lone surrogate. It goes out as the `\\udcff` escape."""
    import os

    name = os.fsdecode(b"/data/b\xff.jpg")
    path = tmp_path / f"r.{fmt}"
    with open(path, "w", encoding="utf-8", newline="") as stream:  # strict, as --out opens it
        sink = open_sink(fmt, stream, {"model": {"names": NAMES}})
        sink.write(make_result(0, source="/data/a.jpg"))
        sink.write(make_result(1, source=name))
        sink.close(RunSummary())
    text = path.read_text(encoding="utf-8")
    assert "/data/a.jpg" in text and "b\\udcff.jpg" in text
    if fmt == "jsonl":
        assert [json.loads(line)["source"] for line in text.splitlines()] == ["/data/a.jpg", name]
    if fmt == "json":
        assert json.loads(text)["images"][1]["source"] == name  # the very name: os.fsencode gives the bytes back
