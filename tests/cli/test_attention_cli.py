"""`attn-detect attention` (and `detect --attention`) on hostile inputs, in-process with the packaged
demo model: every input gets a record, one bad input never ends the run, overlays never mix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES, TEST_IMGSZ

DEMO = ["--model", "demo", "--imgsz", "320", "--threads", "1"]
runner = CliRunner()
MODEL = ["--model", "yolo26n.yaml", "--imgsz", str(TEST_IMGSZ), "--conf", "0.0", "--max-det", "7", "--threads", "1"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def write_gray(path: Path, height: int, width: int) -> str:
    cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))
    return str(path)


@pytest.mark.parametrize("model", ["demo", "demo-rtdetr"])
def test_extreme_aspect_ratios_are_explained(tmp_path: Path, model: str) -> None:
    thin = [write_gray(tmp_path / f"{h}x{w}.png", h, w) for h, w in ((1, 5000), (5000, 1), (2, 2))]
    shapes = str(SAMPLES / "shapes" / "shape_00000.jpg")
    args = [
        *DEMO[2:],
        "--model",
        model,
        "--imgsz",
        "320",
        "--conf",
        "0.01",
        "--max-det",
        "2",
        "--method",
        "all",
        "--masks",
        "8",
    ]
    result = invoke("attention", *thin, shapes, *args, "--json", "--save", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(i["status"], i["width"], i["height"]) for i in doc["images"]] == [
        ("ok", 5000, 1),
        ("ok", 1, 5000),
        ("ok", 2, 2),
        ("ok", 320, 320),
    ]
    for record in doc["images"]:
        overlay = cv2.imread(str(Path(record["overlays"]) / "attention.jpg"))
        assert overlay.shape[:2] == (record["height"], record["width"])
        for det in record["detections"]:
            for method in ("attention", "gradcam", "layercam-det", "layercam", "drise"):
                assert 0 <= det[method]["mass_in_box"] <= 1
    assert doc["images"][-1]["detections"]  # the real image still gets its detections


def test_drise_and_the_encoder_map_choices() -> None:
    shapes = str(SAMPLES / "shapes" / "shape_00000.jpg")
    result = invoke("attention", shapes, *DEMO, "--json", "--method", "drise", "--masks", "16")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["images"]
    assert record["maps"] == "D-RISE, 16 masks" and all("drise" in d for d in record["detections"])
    result = invoke("attention", shapes, *DEMO, "--json", "--map", "encoder")
    assert result.exit_code == 2 and "RT-DETR" in result.stderr and not result.stdout
    result = invoke("attention", shapes, *DEMO, "--json", "--method", "drise", "--masks", "0")
    assert result.exit_code == 2 and "--masks 0" in result.stderr


def test_detect_attention_on_a_one_pixel_high_image(tmp_path: Path) -> None:
    thin = write_gray(tmp_path / "thin.png", 1, 5000)
    result = invoke("detect", thin, *DEMO, "--attention", "--save", str(tmp_path / "out"), "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "thin_attention" / "attention.jpg").is_file()


def test_failed_inputs_are_records_in_the_json(tmp_path: Path, http_server) -> None:
    text = tmp_path / "x.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    good = str(SAMPLES / "shapes" / "shape_00001.jpg")
    sources = [good, str(text), str(missing), str(empty), f"{http_server}/missing", good]
    result = invoke("attention", *sources, *DEMO, "--json")
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    records = doc["images"]
    assert [r["source"] for r in records] == sources and [r["index"] for r in records] == list(range(len(sources)))
    assert [r["status"] for r in records] == ["ok", "error", "error", "error", "error", "ok"]
    assert "not an image" in records[1]["error"] and "no such file" in records[2]["error"]
    assert "empty" in records[3]["error"] and "404" in records[4]["error"]
    assert all(r["detections"] == [] and r["width"] is None for r in records[1:-1])
    assert doc["summary"]["failed"] == len(sources) - 2 and doc["summary"]["interrupted"] is False
    assert records[0]["detections"] == records[-1]["detections"] != []
    assert "x.jpg: not an image" in result.stderr  # and one line each on stderr


def test_same_file_name_in_two_folders_gets_two_overlay_folders(tmp_path: Path) -> None:
    for folder, sample in (("a", "shape_00000.jpg"), ("b", "shape_00001.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copy(SAMPLES / "shapes" / sample, tmp_path / folder / "img.jpg")
    out = tmp_path / "out"
    (out / "img").mkdir(parents=True)  # left by an earlier run: never written into
    (out / "img" / "attention.jpg").write_bytes(b"earlier")
    result = invoke("attention", str(tmp_path / "a"), str(tmp_path / "b"), *DEMO, "--save", str(out), "--json")
    assert result.exit_code == 0, result.output
    folders = [Path(r["overlays"]) for r in json.loads(result.stdout)["images"]]
    assert [f.name for f in folders] == ["img_1", "img_2"]
    assert (out / "img" / "attention.jpg").read_bytes() == b"earlier"
    a, b = (cv2.imread(str(f / "attention.jpg")) for f in folders)
    assert a.shape == b.shape and not np.array_equal(a, b)  # each folder holds its own image's overlays


def test_an_image_that_cannot_be_explained_is_an_error_record(tmp_path: Path, monkeypatch) -> None:
    from detect_cli.tasks import attention as job

    real = job.explain_image
    calls = []

    def flaky(detector, image, options, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("query mapping found 3 queries for 2 detections\nmore detail")
        return real(detector, image, options, **kwargs)

    monkeypatch.setattr(job, "explain_image", flaky)
    good = str(SAMPLES / "shapes" / "shape_00002.jpg")
    result = invoke("attention", good, good, *DEMO, "--json", "--check")
    assert result.exit_code == 3, result.output
    first, second = json.loads(result.stdout)["images"]
    assert first["status"] == "error" and first["width"] == 320
    assert first["error"] == "cannot explain this image: RuntimeError: query mapping found 3 queries for 2 detections"
    assert second["status"] == "ok" and second["detections"]
    assert set(second["detections"][0]["metrics"]) == {"attention", "random"}
    rows = {row["method"]: row for row in json.loads(result.stdout)["summary"]["faithfulness"]}
    low, high = rows["attention"]["deletion_auc_ci95"]
    assert rows["attention"]["n"] == len(second["detections"]) and low <= rows["attention"]["deletion_auc"] <= high


def test_ctrl_c_keeps_the_finished_records(monkeypatch) -> None:
    from detect_cli.tasks import attention as job

    real = job.explain_image
    calls = []

    def interrupted_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "explain_image", interrupted_on_second)
    good = str(SAMPLES / "shapes" / "shape_00003.jpg")
    result = invoke("attention", good, good, good, *DEMO, "--json")
    assert result.exit_code == 130, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["interrupted"] is True and [r["status"] for r in doc["images"]] == ["ok"]


def test_attention_command_writes_overlays_and_figures(tmp_path: Path) -> None:
    import cv2

    save = tmp_path / "att"
    args = ["attention", str(SAMPLES / "zidane.jpg"), *MODEL[:-2], "--max-det", "2", "--threads", "1"]
    result = invoke(*args, "--save", str(save), "--method", "both", "--raw", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    [image] = doc["images"]
    assert len(image["detections"]) == 2
    assert {"attention", "layercam"} <= set(image["detections"][0])
    files = sorted(p.name for p in (save / "zidane").iterdir())
    assert "attention.jpg" in files and "layercam.jpg" in files
    det_overlays = [f for f in files if f.startswith("det_00") and f.endswith(".jpg")]
    assert len(det_overlays) == 2
    assert cv2.imread(str(save / "zidane" / det_overlays[0])).shape == (720, 1280, 3)
    assert np_load_shape(save / "zidane" / det_overlays[0].replace(".jpg", ".npy")) == (720, 1280)


def np_load_shape(path: Path) -> tuple[int, ...]:
    import numpy as np

    return np.load(path).shape


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "grad"], "--method grad"),
        (["--format", "coco"], "writes table"),
        (["--json", "--layer", "9"], "no effect"),
    ],
)
def test_attention_usage(args: list[str], message: str) -> None:
    result = invoke("attention", str(SAMPLES / "bus.jpg"), *MODEL, *args)
    assert message in result.stderr
    assert result.exit_code == (0 if "no effect" in message else 2)
