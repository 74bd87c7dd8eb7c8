"""detect with the demo model: per-class --conf, --save-crop, --redact, picture styles (slow: the model runs).

The scenes are the demo's own, cut to 4:3, 16:9 and portrait, written as PNG so that what is saved can be
compared with the input to the pixel."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.outputs.redact import pixel_boxes
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
DEMO = ["--model", "demo", "--backend", "torch", "--threads", "1", "--imgsz", "320"]
SHAPES = SAMPLES / "shapes"


def shape(n: int) -> np.ndarray:
    return cv2.imread(str(SHAPES / f"shape_{n:05d}.jpg"))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three scenes with circles below and above 0.8 (shape 11: 0.57, 22: 0.99 and 0.76, 3: 0.99 and 0.95)."""
    folder = tmp_path_factory.mktemp("scenes")
    wide = np.hstack([shape(11), shape(22)])
    cv2.imwrite(str(folder / "a_4x3.png"), wide[:, :427])
    cv2.imwrite(str(folder / "b_16x9.png"), wide[:, 36:604])
    cv2.imwrite(str(folder / "c_portrait.png"), np.vstack([shape(3), shape(22)])[:427])
    return folder


def detect(*args: str) -> dict:
    run = CliRunner().invoke(app, ["detect", *args, *DEMO, "--format", "json"])
    assert run.exit_code == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def plain(scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    saved = tmp_path_factory.mktemp("plain")
    return detect(str(scenes), "--conf", "0.3", "--save", str(saved)), saved


def boxes(doc: dict) -> dict[str, list[tuple[str, float]]]:
    return {
        Path(i["source"]).name: [(d["class_name"], round(d["confidence"], 3)) for d in i["detections"]]
        for i in doc["images"]
    }


def test_per_class_conf_keeps_circles_at_their_own_threshold(scenes: Path, plain: tuple[dict, Path]) -> None:
    every = boxes(plain[0])
    assert any(c == "circle" and 0.3 <= p < 0.8 for found in every.values() for c, p in found)  # can fail
    per_class = boxes(detect(str(scenes), "--conf", "0.3,circle=0.8"))
    expected = {name: [(c, p) for c, p in found if c != "circle" or p >= 0.8] for name, found in every.items()}
    assert per_class == expected
    assert all(p >= 0.8 if c == "circle" else p >= 0.3 for found in per_class.values() for c, p in found)


def test_an_unknown_class_in_conf_is_refused_before_any_image(scenes: Path) -> None:
    run = CliRunner().invoke(app, ["detect", str(scenes), *DEMO, "--conf", "0.3,circel=0.8", "--format", "json"])
    assert run.exit_code == 2 and run.stdout == ""
    assert "--conf: unknown class 'circel'" in run.stderr and "did you mean circle" in run.stderr


def test_save_crop_writes_one_crop_per_box_with_its_pixels(scenes: Path, tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    doc = detect(str(scenes), "--conf", "0.3", "--save-crop", str(crops))
    count = 0
    for image in doc["images"]:
        source = cv2.imread(image["source"])
        stem = Path(image["source"]).stem
        for index, det in enumerate(image["detections"]):
            ((x1, y1, x2, y2),) = pixel_boxes(np.array([det["box"]]), image["width"], image["height"])
            crop = cv2.imread(str(crops / det["class_name"] / f"{stem}_{index}.png"))
            assert np.array_equal(crop, source[y1:y2, x1:x2])
            count += 1
    assert count > 5 and len(list(crops.rglob("*.png"))) == count


@pytest.mark.parametrize("style", ["fill", "pixelate", "blur"])
def test_redact_hides_the_circles_and_leaves_the_rest_as_a_plain_save(
    scenes: Path, plain: tuple[dict, Path], tmp_path: Path, style: str
) -> None:
    doc = detect(str(scenes), "--conf", "0.3", "--redact", "circle", "--redact-style", style, "--save", str(tmp_path))
    plain_doc, plain_dir = plain
    assert boxes(doc) == boxes(plain_doc)
    hidden = 0
    for image in doc["images"]:
        name = Path(image["source"]).name
        redacted, before = cv2.imread(str(tmp_path / name)), cv2.imread(str(plain_dir / name))
        original = cv2.imread(image["source"])
        outside = np.ones(redacted.shape[:2], bool)
        for det in image["detections"]:
            assert det["redacted"] is (det["class_name"] == "circle")
            if not det["redacted"]:
                continue
            hidden += 1
            ((x1, y1, x2, y2),) = pixel_boxes(np.array([det["box"]]), image["width"], image["height"])
            outside[y1:y2, x1:x2] = False
            inside = redacted[y1:y2, x1:x2]
            if style == "fill":
                assert inside.std() == 0
            elif style == "pixelate":  # at most 8 x 8 blocks of one colour each
                assert len(np.unique(inside.reshape(-1, 3), axis=0)) <= 64
            else:  # the shape's outline is gone: far less edge energy than in the input
                detail = cv2.Laplacian(cv2.cvtColor(original[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
                left = cv2.Laplacian(cv2.cvtColor(inside, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
                assert left < 0.2 * detail
        assert np.array_equal(redacted[outside], before[outside])
    assert hidden >= 4


def test_styles_change_the_saved_pictures(scenes: Path, plain: tuple[dict, Path], tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    detect(str(scenes), "--conf", "0.3", "--hide-boxes", "--save", str(bare))
    for picture in bare.iterdir():
        assert np.array_equal(cv2.imread(str(picture)), cv2.imread(str(scenes / picture.name)))
    thin = tmp_path / "thin"
    detect(str(scenes), "--conf", "0.3", "--line-width", "1", "--hide-labels", "--save", str(thin))
    for picture in thin.iterdir():
        source = cv2.imread(str(scenes / picture.name))
        changed = (cv2.imread(str(picture)) != source).any(axis=2).sum()
        as_plain = (cv2.imread(str(plain[1] / picture.name)) != source).any(axis=2).sum()
        assert 0 < changed < as_plain / 2


def test_a_video_gets_redacted_frames_and_crops_named_by_frame(tmp_path: Path) -> None:
    from detect_cli.demo.videos import write_video

    video, _ = write_video(tmp_path / "clip.mp4", 6, seed=3, size=320)
    saved, crops = tmp_path / "saved", tmp_path / "crops"
    run = CliRunner().invoke(
        app,
        [
            str(video),
            *DEMO,
            "--redact",
            "circle,star",
            "--redact-style",
            "fill",
            "--save",
            str(saved),
            "--save-crop",
            str(crops),
            "--format",
            "jsonl",
        ],
    )
    assert run.exit_code == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines() if '"frame"' in line]
    expected = {
        f"{d['class_name']}/clip_f{r['frame']:06d}_{i}.jpg"
        for r in records
        for i, d in enumerate(r["detections"])
        if not d["redacted"]
    }
    assert expected and {p.relative_to(crops).as_posix() for p in crops.rglob("*.jpg")} == expected
    capture = cv2.VideoCapture(str(saved / "clip.mp4"))
    for record in records:
        ok, frame = capture.read()
        assert ok
        for det in record["detections"]:
            if det["redacted"]:
                ((x1, y1, x2, y2),) = pixel_boxes(np.array([det["box"]]), 320, 320)
                assert frame[y1 + 3 : y2 - 3, x1 + 3 : x2 - 3].std() < 4  # black, give or take the codec
    capture.release()


def test_per_class_conf_holds_when_slicing_and_tracking_a_video(scenes: Path) -> None:
    sliced = detect(str(scenes), "--conf", "0.2,circle=0.8", "--slice", "200x200")
    found = [(d["class_name"], d["confidence"]) for i in sliced["images"] for d in i["detections"]]
    assert found and all(p >= 0.8 if c == "circle" else p >= 0.2 for c, p in found)
    video = SAMPLES / "video" / "shapes.mp4"  # frames 0-9: two circles each, one at 0.74 in frame 7
    tracked = detect(str(video), "--end", "0.4", "--conf", "0.2,circle=0.8", "--track")
    found = [(d["class_name"], d["confidence"]) for i in tracked["images"] for d in i["detections"]]
    assert [c for c, _ in found] == ["circle"] * 19 and all(p >= 0.8 for _, p in found)


def test_crops_are_not_written_among_the_inputs(scenes: Path) -> None:
    run = CliRunner().invoke(app, ["detect", str(scenes), *DEMO, "--save-crop", str(scenes)])
    assert run.exit_code == 2 and "--save-crop" in run.stderr
