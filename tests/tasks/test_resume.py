"""--resume: a killed run continues where it stopped; every input ends up exactly once."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.core.errors import ConfigError
from detect_cli.tasks.resume import prepare_resume, sidecar_path, write_sidecar
from tests.conftest import SAMPLES, TEST_IMGSZ
from tests.helpers import kill_once_written

MODEL = ["--model", "yolo26n.yaml", "--imgsz", str(TEST_IMGSZ), "--conf", "0.0", "--max-det", "3", "--threads", "1"]
runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """40 shapes images in two sub-folders, plus one bad file."""
    root = tmp_path / "in"
    shapes = sorted((SAMPLES / "shapes").glob("*.jpg"))
    for i in range(40):
        target = root / f"part{i // 20}" / f"img_{i:03d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shapes[i % len(shapes)], target)
    (root / "part1" / "zz_bad.jpg").write_text("not an image")
    return root


def records(path: Path) -> dict[str, dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    by_source = {r["source"]: r for r in lines}
    assert len(by_source) == len(lines), "an input appears twice"
    return by_source


def comparable(recs: dict[str, dict]) -> dict[str, tuple]:
    return {s: (r["index"], r["status"], json.dumps(r["detections"])) for s, r in recs.items()}


def test_sigkill_then_resume_equals_an_uninterrupted_run(folder: Path, tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    assert runner.invoke(app, [str(folder), "-r", *MODEL, "--out", str(full), "--quiet"]).exit_code == 3

    out = tmp_path / "killed.jsonl"
    cmd = [sys.executable, "-m", "detect_cli", str(folder), "-r", *MODEL, "--out", str(out), "--quiet"]
    kill_once_written(cmd, out, 5)
    done_before = len(out.read_text().splitlines())
    assert 5 <= done_before < 41, "the kill should land part-way"
    with open(out, "a") as fh:  # what a crash mid-write leaves behind
        fh.write('{"index": 99, "source": "half a rec')

    result = runner.invoke(app, [str(folder), "-r", *MODEL, "--out", str(out), "--resume"])
    assert result.exit_code == 3, result.stderr  # the bad file still fails
    assert "repaired" in result.stderr and "already done" in result.stderr
    assert "skipped (done before)" in result.stderr  # with --out the summary is on stderr
    assert comparable(records(out)) == comparable(records(full))
    assert len(records(out)) == 41


def test_retry_failed_runs_errors_again_once(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    runner.invoke(app, [str(folder), "-r", *MODEL, "--out", str(out), "--quiet"])
    (folder / "part1" / "zz_bad.jpg").write_bytes((SAMPLES / "bus.jpg").read_bytes())  # fixed meanwhile
    result = runner.invoke(app, [str(folder), "-r", *MODEL, "--out", str(out), "--resume", "--retry-failed"])
    assert result.exit_code == 0, result.stderr
    recs = records(out)
    assert len(recs) == 41 and all(r["status"] == "ok" for r in recs.values())


def test_resume_refuses_other_settings(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    runner.invoke(app, [str(folder), *MODEL, "--out", str(out), "--quiet"])
    result = runner.invoke(app, [str(folder), *MODEL[:-4], "--conf", "0.5", "--out", str(out), "--resume"])
    assert result.exit_code == 2
    assert "settings differ" in result.stderr and "conf" in result.stderr


def test_resume_refuses_another_letterbox(tmp_path: Path) -> None:
    """A 2:1 picture's boxes at its own aspect (rect, YOLO's default) are not the square's: a file begun
    at one is not continued at the other."""
    out = tmp_path / "r.jsonl"
    wide = str(SAMPLES / "bus.jpg")
    assert runner.invoke(app, [wide, *MODEL, "--out", str(out), "--quiet"]).exit_code == 0
    assert json.loads(sidecar_path(out).read_text())["fingerprint"]["letterbox"] == "rect"
    result = runner.invoke(app, [wide, *MODEL, "--letterbox", "square", "--out", str(out), "--resume"])
    assert result.exit_code == 2, result.stderr
    assert "settings differ" in result.stderr and "letterbox: 'rect' -> 'square'" in result.stderr
    again = runner.invoke(app, [wide, *MODEL, "--letterbox", "rect", "--out", str(out), "--resume"])
    assert again.exit_code == 0, again.stderr


def test_resume_needs_a_resumable_file(tmp_path: Path) -> None:
    result = runner.invoke(app, [str(SAMPLES / "bus.jpg"), *MODEL, "--resume"])
    assert result.exit_code == 2 and "--out" in result.stderr
    result = runner.invoke(app, [str(SAMPLES / "bus.jpg"), *MODEL, "--out", str(tmp_path / "x.json"), "--resume"])
    assert result.exit_code == 2 and "JSONL or CSV" in result.stderr


def test_csv_cut_last_image_is_dropped_and_redone(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    header = "index,source,status,error,width,height,class_id,class_name,confidence,x1,y1,x2,y2,frame,time_s,track_id\n"
    rows = "0,a.jpg,ok,,10,10,1,x,0.5,1,1,2,2,,,\n1,b.jpg,ok,,10,10,1,x,0.5,1,1,2,2,,,\n1,b.jpg,ok,,10,10,2,y,0.4,1"
    out.write_text(header + rows)
    write_sidecar(out, {"model": "m"}, "csv")
    state = prepare_resume(out, "csv", {"model": "m"}, retry_failed=False)
    assert state.done == {0: "a.jpg"} and state.dropped_partial
    assert out.read_text() == header + "0,a.jpg,ok,,10,10,1,x,0.5,1,1,2,2,,,\n"


def test_missing_run_record_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("{}\n")
    assert not sidecar_path(out).exists()
    with pytest.raises(ConfigError, match="run record"):
        prepare_resume(out, "jsonl", {}, retry_failed=False)


def test_save_dir_is_not_redone_and_names_stay_stable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        shutil.copy(SAMPLES / "shapes" / "shape_00001.jpg", d / "img.jpg")
    out, save = tmp_path / "r.jsonl", tmp_path / "saved"
    first = runner.invoke(app, [str(a), *MODEL, "--out", str(out), "--save", str(save), "--quiet"])
    assert first.exit_code == 0
    written = (save / "img.jpg").stat().st_mtime_ns
    second = runner.invoke(app, [str(a), str(b), *MODEL, "--out", str(out), "--save", str(save), "--resume"])
    assert second.exit_code == 0
    assert (save / "img.jpg").stat().st_mtime_ns == written  # not redone, not overwritten by b's image
    assert (save / "img_1.jpg").exists()  # b's image got the name it would have had in one run


def test_first_image_runs_before_the_tree_is_listed(yolo_detector, tmp_path: Path, monkeypatch) -> None:
    from detect_cli.inputs import sources as sources_module
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.detector import PredictOptions
    from detect_cli.pipeline.engine import detect_stream

    for i in range(30):
        sub = tmp_path / "tree" / f"d{i:02d}"
        sub.mkdir(parents=True)
        shutil.copy(SAMPLES / "shapes" / "shape_00002.jpg", sub / "x.jpg")
    events: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(
        sources_module.os, "scandir", lambda p: events.append(f"list {Path(p).name}") or real_scandir(p)
    )
    real_predict = yolo_detector.predict
    monkeypatch.setattr(yolo_detector, "predict", lambda imgs, o: events.append("predict") or real_predict(imgs, o))
    stream = detect_stream(iter_sources([str(tmp_path / "tree")], recursive=True), yolo_detector, PredictOptions())
    next(stream)
    assert "predict" in events and "list d29" not in events


def test_the_same_input_twice_is_resumed_twice(tmp_path: Path) -> None:
    """`done` is keyed by index: the second copy of a file is its own input, not a duplicate."""
    image = str(SAMPLES / "shapes" / "shape_00001.jpg")
    inputs = [image, image, str(SAMPLES / "shapes" / "shape_00002.jpg")]
    out = tmp_path / "r.jsonl"
    assert runner.invoke(app, [*inputs, *MODEL, "--out", str(out), "--quiet"]).exit_code == 0
    out.write_text(out.read_text().splitlines()[0] + "\n")  # killed after the first image
    result = runner.invoke(app, [*inputs, *MODEL, "--out", str(out), "--resume", "--quiet"])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["index"], r["source"]) for r in lines] == list(enumerate(inputs))


def test_resume_with_other_inputs_is_refused(tmp_path: Path) -> None:
    shapes = sorted((SAMPLES / "shapes").glob("*.jpg"))
    out = tmp_path / "r.jsonl"
    assert runner.invoke(app, [str(shapes[0]), str(shapes[1]), *MODEL, "--out", str(out), "--quiet"]).exit_code == 0
    before = out.read_bytes()
    result = runner.invoke(app, [str(shapes[1]), str(shapes[0]), *MODEL, "--out", str(out), "--resume"])
    assert result.exit_code == 2 and "inputs changed" in result.stderr and "Traceback" not in result.stderr
    assert out.read_bytes() == before


HEADER = "index,source,status,error,width,height,class_id,class_name,confidence,x1,y1,x2,y2,frame,time_s,track_id\n"
ROW_0 = "0,a.jpg,ok,,10,10,1,x,0.5,1,1,2,2,,,\n"


@pytest.mark.parametrize(
    "tail",
    [
        '1,"we\nird.jpg",ok,,10,10,1,x,0.5,1,1,2,2,,,\n1,"we\n',  # cut right after the newline in the name
        '1,"we\n',  # ... of the image's first row
        '1,"we\nird.jpg",ok,,10,10,1,x,0.5,1,1,2,2,,,\n1,"we\nird.jpg",ok,,10,10,2,y,0.4,1',  # no line end
        "1,b.jpg,ok,,10,10,1,x,0.5,1,1,2,2,,,\n1,b.jpg,ok,,10,10,2,y,0.4,1",
    ],
)
def test_csv_cut_inside_a_quoted_name_drops_that_image(tmp_path: Path, tail: str) -> None:
    out = tmp_path / "r.csv"
    out.write_text(HEADER + ROW_0 + tail)
    write_sidecar(out, {"model": "m"}, "csv")
    state = prepare_resume(out, "csv", {"model": "m"}, retry_failed=False)
    assert state.done == {0: "a.jpg"} and state.dropped_partial
    assert out.read_text() == HEADER + ROW_0


def test_csv_with_a_newline_in_a_name_is_kept_whole(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    content = HEADER + ROW_0 + '1,"we\nird.jpg",ok,,10,10,,,,,,,,,,\n'
    out.write_text(content)
    write_sidecar(out, {}, "csv")
    state = prepare_resume(out, "csv", {}, retry_failed=False)
    assert state.done == {0: "a.jpg", 1: "we\nird.jpg"} and not state.dropped_partial
    assert out.read_text() == content


@pytest.mark.parametrize("content", ["", "index,sour"])
def test_csv_without_a_whole_header_gets_one(tmp_path: Path, content: str) -> None:
    out = tmp_path / "r.csv"
    out.write_text(content)
    write_sidecar(out, {}, "csv")
    assert prepare_resume(out, "csv", {}, retry_failed=False).done == {}
    assert out.read_text() == HEADER


@pytest.mark.parametrize(
    ("fmt", "sidecar", "content", "message"),
    [
        ("jsonl", "[]", "", "not one attn-detect wrote"),
        ("jsonl", '"x"', "", "not one attn-detect wrote"),
        ("jsonl", '{"format": "jsonl", "fingerprint": []}', "", "not one attn-detect wrote"),
        ("jsonl", None, "[]\n", "line 1 is not an attn-detect record"),
        ("jsonl", None, '{"index": 0, "source": "a.jpg"}\n"x"\n', "line 2 is not an attn-detect record"),
        ("jsonl", None, '{"source": "a.jpg"}\n', "line 1 is not an attn-detect record"),
        ("jsonl", None, '{"index": "0", "source": "a.jpg"}\n', "line 1 is not an attn-detect record"),
        ("jsonl", None, '{"index": 0, "source": null}\n', "line 1 is not an attn-detect record"),
        ("csv", None, "a,b\n1,2\n", "columns are not the ones"),
        ("csv", None, HEADER + "x,a.jpg,ok,,,,,,,,,,,,,\n", "line 2 is not an attn-detect record"),
        ("csv", None, HEADER + "0,a.jpg\n", "line 2 is not an attn-detect record"),
    ],
)
def test_wrong_types_are_a_config_error_naming_the_file(tmp_path: Path, fmt, sidecar, content, message) -> None:
    out = tmp_path / f"r.{fmt}"
    out.write_text(content)
    write_sidecar(out, {}, fmt)
    if sidecar is not None:
        sidecar_path(out).write_text(sidecar)
    with pytest.raises(ConfigError, match=message) as info:
        prepare_resume(out, fmt, {}, retry_failed=False)
    assert str(out) in info.value.message
    assert out.read_text() == content  # refused, not "repaired"
