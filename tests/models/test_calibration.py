"""INT8 calibration sets: the gate never scores an image that was calibrated on; inputs read safely."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.models import calibration
from detect_cli.models.calibration import (
    CALIBRATE_MAX,
    HELD_OUT_MAX,
    MIN_CALIBRATE,
    MIN_HELD_OUT,
    TooFewImages,
    calibration_set,
    dataset_images,
    demo_scenes,
    split,
)

SHAPES_MODEL = SimpleNamespace(names={0: "circle", 1: "square"})
OTHER_MODEL = SimpleNamespace(names={0: "person", 1: "car"})


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def _folder(root: Path, n: int, size: int = 64) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):  # every image different
        image = np.random.default_rng(i).integers(0, 255, (size, size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / f"img_{i:04d}.png"), image)
    return root


@pytest.mark.parametrize("count", [0, 7, 40, 401, 2000])
def test_split_never_shares_an_image_and_spreads_the_held_out_ones(count: int) -> None:
    calibrate, held = split(count)
    assert not set(calibrate) & set(held)
    assert len(calibrate) <= CALIBRATE_MAX and len(held) <= HELD_OUT_MAX
    assert all(i % 4 == 3 for i in held)  # every fourth, over the whole set, not its tail
    if count >= 400:
        assert len(held) == HELD_OUT_MAX and len(calibrate) == CALIBRATE_MAX


def test_a_folder_gives_calibration_and_held_out_images_that_differ(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "images", 60)
    made = calibration_set(OTHER_MODEL, [str(folder)], explicit=True)  # type: ignore[arg-type]
    assert len(made.images) == 45 and len(made.held_out) == 15 and made.truth is None
    assert not {_digest(i) for i in made.images} & {_digest(i) for i in made.held_out}
    assert made.source == "45 images of --calibration, 15 held out"


def test_too_few_images_say_how_many_are_needed(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "few", 12)
    with pytest.raises(TooFewImages, match=f"at least {MIN_CALIBRATE + MIN_HELD_OUT} images.*gave 12") as refused:
        calibration_set(OTHER_MODEL, [str(folder)], explicit=True)  # type: ignore[arg-type]
    assert isinstance(refused.value, ConfigError) and refused.value.exit_code == 2  # bad input, not a crash
    with pytest.raises(TooFewImages, match=r"; --data d.yaml gave 12 \(add readable images to --data d.yaml"):
        calibration_set(OTHER_MODEL, [str(folder)], explicit=True, where="--data d.yaml")  # type: ignore[arg-type]
    with pytest.raises(TooFewImages, match="--calibration x gave 12"):  # counted by name, nothing decoded
        calibration.check_enough([str(folder)], "--calibration x")
    calibration.check_enough([str(_folder(tmp_path / "enough", 40))], "--calibration x")


def test_only_the_shrunk_copy_of_an_image_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    def photos(*args: object):
        for i in range(44):  # 44 photos of 12 MP: 1.6 GB if every full-size one were kept
            yield f"p{i}.jpg", np.full((3000, 4000, 3), i, np.uint8)

    monkeypatch.setattr(calibration, "_read", photos)
    tracemalloc.start()
    try:
        made = calibration_set(OTHER_MODEL, ["photos"], explicit=True, max_side=320)  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert {i.shape for i in made.images + made.held_out} == {(240, 320, 3)}
    assert peak < 4 * 36e6  # a couple of full-size photos at a time (36 MB each), not 44 of them


def test_images_of_calibration_that_cannot_be_used_are_named(tmp_path: Path) -> None:
    from detect_cli.inputs.images import ReadOptions

    folder = _folder(tmp_path / "images", 44)
    cv2.imwrite(str(folder / "huge.png"), np.zeros((100, 100, 3), np.uint8))
    made = calibration_set(OTHER_MODEL, [str(folder)], explicit=True, read_options=ReadOptions(max_pixels=64 * 64))  # type: ignore[arg-type]
    assert len(made.images) + len(made.held_out) == 44
    (note,) = made.passed_over
    assert note.startswith("--calibration: passed over huge.png: image is 100x100") and "max_pixels" in note
    run_inputs = calibration_set(OTHER_MODEL, [str(folder)], read_options=ReadOptions(max_pixels=64 * 64))  # type: ignore[arg-type]
    assert run_inputs.passed_over == ()  # the run's own inputs: the run reports them itself


def test_stdin_and_streams_are_never_read_for_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("should not be consumed\n"))
    with pytest.raises(TooFewImages, match="gave 0"):
        calibration_set(OTHER_MODEL, ["-", "rtsp://camera/stream", "https://example.com/a.jpg"])  # type: ignore[arg-type]
    assert sys.stdin.read() == "should not be consumed\n"


def test_unreadable_images_are_passed_over(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "images", 44)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    made = calibration_set(OTHER_MODEL, [str(folder)])  # type: ignore[arg-type]
    assert len(made.images) + len(made.held_out) == 44 and made.source.endswith("of the run's inputs, 11 held out")


def test_large_images_are_kept_shrunk_with_their_labels(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "big", 40, size=640)

    def truth(name: str, width: int, height: int) -> Detections:
        assert (width, height) == (640, 640)  # looked up at the image's own size
        return Detections(np.array([[64, 64, 320, 640]], np.float32), np.ones(1, np.float32), np.zeros(1, int))

    made = calibration_set(OTHER_MODEL, [str(folder)], truth=truth, max_side=320)  # type: ignore[arg-type]
    assert {i.shape for i in made.images + made.held_out} == {(320, 320, 3)}
    assert made.truth is not None and np.allclose(made.truth[0].xyxy, [[32, 32, 160, 320]])


def test_the_demo_models_calibrate_on_scenes_unless_given_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenes = demo_scenes(12, 6)
    monkeypatch.setattr(calibration, "demo_scenes", lambda: scenes)
    assert calibration_set(SHAPES_MODEL, [str(tmp_path / "nothing-here")]) is scenes  # type: ignore[arg-type]
    small = scenes
    assert len(small.images) == 12 and len(small.held_out) == 6
    assert not {_digest(i) for i in small.images} & {_digest(i) for i in small.held_out}
    assert all(len(t) > 0 for t in small.truth or [])
    with pytest.raises(TooFewImages):  # an explicit folder wins, even for a demo model
        calibration_set(SHAPES_MODEL, [str(_folder(tmp_path / "three", 3))], explicit=True)  # type: ignore[arg-type]


def test_a_dataset_yaml_names_its_val_images(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("path: set\ntrain: images/train\nval: images/val\nnames: {0: a}\n")
    assert dataset_images(str(tmp_path / "data.yaml")) == [str(tmp_path / "set" / "images" / "val")]
    (tmp_path / "list.yaml").write_text("train: [a, b]\n")
    assert dataset_images(str(tmp_path / "list.yaml")) == [str(tmp_path / "a"), str(tmp_path / "b")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("names: {0: a}\n", "names no val or train images"),
        ("- a\n- b\n", "not a mapping"),
        ("a: &x [*x]\n", "--data"),
        ("val: !!python/object/apply:os.system ['touch PWNED']\n", "--data"),
    ],
)
def test_a_bad_dataset_yaml_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        dataset_images(str(tmp_path / "data.yaml"))
    assert not (tmp_path / "PWNED").exists()


def test_video_frames_are_taken_apart(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    for i in range(95):
        writer.write(np.full((64, 64, 3), i * 2, np.uint8))
    writer.release()
    frames = list(calibration._read([str(path)], 100, None))
    assert len(frames) == 10  # frames 0, 10, ..., 90
    assert frames[0][0] == "clip.mp4 (a frame)"


def test_the_listing_digest_changes_with_the_images_and_only_with_them(tmp_path: Path) -> None:
    import os

    folder = _folder(tmp_path / "images", 3)
    first = calibration.listing_digest([str(folder)])
    assert calibration.listing_digest([str(folder)]) == first  # nothing decoded, nothing changed
    cv2.imwrite(str(folder / "new.png"), np.zeros((8, 8, 3), np.uint8))
    added = calibration.listing_digest([str(folder)])
    assert added != first
    os.utime(folder / "new.png", ns=(1, 1))  # the same name and size, another time: other bytes maybe
    assert calibration.listing_digest([str(folder)]) not in {first, added}
    (folder / "new.png").unlink()
    assert calibration.listing_digest([str(folder)]) == first
