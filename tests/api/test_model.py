"""`detect_cli.Model`: the seed's three lines, every kind of input, and the same rules as the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import detect_cli
from detect_cli.cli.app import app
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
SHAPES = SAMPLES / "shapes"
IMAGE = SHAPES / "shape_00003.jpg"


@pytest.fixture(scope="module")
def rtdetr() -> detect_cli.Model:
    return detect_cli.Model("demo-rtdetr")


@pytest.fixture(scope="module")
def demo() -> detect_cli.Model:
    return detect_cli.Model("demo")


def _cli(*args: str):
    return CliRunner().invoke(app, [*map(str, args)])


def _cli_records(*args: str) -> list[dict]:
    done = _cli(*args, "--format", "jsonl")
    assert done.exit_code in (0, 3), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_seed_example_in_three_lines_gives_the_cli_count(capsys) -> None:
    model = detect_cli.Model("demo-rtdetr")
    results = model(str(IMAGE))
    print(f"Detected {len(results[0].boxes)} objects using attention-based detection.")
    (record,) = _cli_records(IMAGE, "--model", "demo-rtdetr")
    assert capsys.readouterr().out == f"Detected {len(record['detections'])} objects using attention-based detection.\n"
    assert len(record["detections"]) >= 3
    assert results[0].to_dict()["detections"] == record["detections"]


def test_a_cv2_frame_and_a_pil_image_give_the_files_boxes(rtdetr) -> None:
    from_file, from_frame, from_pil = rtdetr([IMAGE, cv2.imread(str(IMAGE)), Image.open(IMAGE)])
    assert len(from_file) >= 3
    assert from_frame.detections == from_file.detections and from_pil.detections == from_file.detections
    assert from_frame.source == "<array 0>" and from_pil.source == "<PIL image 1>"


@pytest.mark.parametrize(("width", "height"), [(640, 480), (640, 360), (360, 640)])  # 4:3, 16:9, portrait
def test_a_frame_of_any_shape_gives_the_boxes_of_the_same_picture_on_disk(demo, tmp_path, width, height) -> None:
    frame = cv2.resize(cv2.imread(str(IMAGE)), (width, height))
    path = tmp_path / "frame.png"  # lossless: the same pixels
    cv2.imwrite(str(path), frame)
    from_disk, from_memory = demo([path, frame])
    assert from_disk.shape == from_memory.shape == (height, width)
    assert from_memory.detections == from_disk.detections


def test_conf_keeps_fewer_boxes_and_a_bad_conf_is_the_cli_error(demo) -> None:
    assert len(demo(IMAGE, conf=0.9)[0]) < len(demo(IMAGE, conf=0.05)[0])
    assert len(detect_cli.Model("demo", conf=0.9)(IMAGE)[0]) == len(demo(IMAGE, conf=0.9)[0])
    cli = _cli(IMAGE, "--model", "demo", "--conf", "2")
    with pytest.raises(detect_cli.AttnDetectError) as refused:
        detect_cli.Model("demo", conf=2)
    assert cli.exit_code == refused.value.exit_code == 2
    assert f"error: {refused.value}\n" in cli.stderr and "bad value for --conf" in str(refused.value)
    with pytest.raises(detect_cli.ConfigError, match="bad value for --conf"):
        demo(IMAGE, conf=2)


def test_settings_that_open_the_model_cannot_change_per_call(demo) -> None:
    with pytest.raises(detect_cli.ConfigError, match="backend cannot change per call"):
        demo(IMAGE, backend="onnx")
    with pytest.raises(detect_cli.ConfigError, match=r"unknown setting 'conff'.*did you mean 'conf'"):
        demo(IMAGE, conff=0.3)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three of the shapes, 4:3, 16:9 and portrait, in a folder of their own."""
    made = tmp_path / "few"
    made.mkdir()
    for n, size in enumerate([(640, 480), (640, 360), (360, 640)]):
        cv2.imwrite(str(made / f"{n}.jpg"), cv2.resize(cv2.imread(str(SHAPES / f"shape_0000{n}.jpg")), size))
    return made


def test_calling_twice_gives_the_same_answer_twice(demo, folder) -> None:
    first, second = demo(str(folder)), demo(str(folder))
    assert len(first) == len(second) == 3  # a string source is one source: the folder's images
    assert all(a.detections == b.detections for a, b in zip(first, second))
    assert [r.to_dict()["detections"] for r in first] == [r.to_dict()["detections"] for r in second]


def test_a_job_run_twice_gives_the_same_summary_twice(demo, folder) -> None:
    job = detect_cli.DetectJob(demo.settings, demo.detector)
    runs = [job.run(detect_cli.iter_sources(str(folder))) for _ in range(2)]
    assert runs[0].images == 3 and runs[1].images == 3
    assert runs[1].detections == sum(len(r) for r in demo(folder))


def test_a_wrong_type_is_a_type_error_naming_the_argument(demo) -> None:
    with pytest.raises(TypeError, match=r"^Model\(spec\): expected a model name or path"):
        detect_cli.Model(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^source: expected a path, .* got None"):
        demo(None)
    with pytest.raises(TypeError, match=r"^source\[1\]: .* got int"):
        demo([IMAGE, 1])
    with pytest.raises(TypeError, match=r"^open_model\(settings\): expected DetectSettings"):
        detect_cli.open_model("demo")  # type: ignore[arg-type]


def test_a_bad_input_is_an_error_record_and_the_batch_goes_on(demo, tmp_path) -> None:
    results = demo([tmp_path / "missing.jpg", np.zeros((4, 4, 2), np.uint8), IMAGE])
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].error == "no such file or folder" and "not an image" in results[1].error


def test_jobs_refuse_what_they_cannot_run(demo) -> None:
    with pytest.raises(detect_cli.ConfigError, match="CompareJob needs at least one contender"):
        detect_cli.CompareJob([])
    with pytest.raises(TypeError, match=r"^EvaluateJob\(labels\): expected the ground truth as Labels, got None"):
        detect_cli.EvaluateJob(demo.settings, demo.detector, labels=None)


def test_stream_tracks_a_video_and_refuses_what_the_cli_refuses(demo) -> None:
    results = list(demo.stream(SAMPLES / "video" / "shapes.mp4", track=True, end=1.0))
    assert len(results) >= 5 and all(r.frame is not None for r in results)
    assert all(r.detections.track_id is not None for r in results)
    assert any((r.detections.track_id >= 0).any() for r in results)
    with pytest.raises(detect_cli.ConfigError, match="--count-line"):
        demo.stream(IMAGE, count_line="1,2,3")


def test_stream_saves_annotated_images_where_asked(demo, tmp_path) -> None:
    results = list(demo.stream([IMAGE, cv2.imread(str(IMAGE))], save=tmp_path / "out"))
    assert len(results) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["image0.jpg", "shape_00003.jpg"]


def test_explain_gives_each_detection_its_attention(rtdetr) -> None:
    (explained,) = rtdetr.explain(IMAGE)
    record = explained.to_dict()  # the record `attention --format jsonl` writes
    assert record["status"] == "ok" and len(record["detections"]) >= 3
    assert all(0.0 <= d["attention"]["mass_in_box"] <= 1.0 for d in record["detections"])
    # a result like detect's: its boxes, its picture, the map over it, and a notebook view
    assert isinstance(explained, detect_cli.Result) and len(explained) == len(record["detections"])
    assert explained.image is not None and explained.plot().shape == explained.image.shape
    assert [m.shape for m in explained.maps["attention"]] == [explained.image.shape[:2]] * len(explained)
    assert "<img" in explained._repr_html_() and "mass in box" in explained._repr_html_()


def test_run_writes_resumes_and_refuses_as_detect_does(demo, tmp_path) -> None:
    """`Model.run` is the whole detect command: its results file, --resume, and the plan's refusals."""
    images, out = [str(IMAGE), str(SHAPES / "shape_00000.jpg")], tmp_path / "r.jsonl"
    first = demo.run(images, out)
    assert first.exit_code == detect_cli.ExitCode.OK and first.summary.images == 2
    written = out.read_text()
    assert [json.loads(line)["source"] for line in written.splitlines()] == images
    assert demo.run(images, out, resume=True).exit_code == detect_cli.ExitCode.OK
    assert out.read_text() == written  # both were done: nothing run again, nothing written twice
    with pytest.raises(detect_cli.ConfigError, match="a folder means sharded JSONL written by Ray workers"):
        demo.run(images, f"{tmp_path}/shards/")
    with pytest.raises(detect_cli.ConfigError, match="it would be overwritten"):
        demo.run(images, images[0], format="jsonl")
    with pytest.raises(detect_cli.ConfigError, match="is for --int8, and this export is not one"):
        demo.export("openvino", tmp_path, calibration=str(SHAPES))
    assert IMAGE.read_bytes()[:2] == b"\xff\xd8"  # still a JPEG
