from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.results import ImageResult
from detect_cli.outputs.crops import CropSaver, crop_stem, crop_suffix

NAMES = {0: "circle", 1: "a/b..c"}


def result(name: str, frame: int | None = None) -> ImageResult:
    boxes = np.array([[10.2, 5.7, 60.0, 45.1], [100, 80, 180, 130], [300, 300, 400, 400], [-5, -5, 20, 30]])
    dets = Detections(boxes, np.full(4, 0.9), np.array([0, 1, 0, 0]))
    return ImageResult(f"/in/{name}", 0, dets, NAMES, 320, 240, name=name, frame=frame)


@pytest.mark.parametrize("shape", [(240, 320), (180, 320), (320, 240)])  # 4:3, 16:9, portrait
def test_one_crop_per_box_with_its_own_pixels(tmp_path: Path, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    saved = CropSaver(tmp_path).save(result("sub/photo.png"), image)
    names = [p.relative_to(tmp_path).as_posix() for p in saved]
    # box 2 is outside every picture here: no crop; box 3 is clipped to it
    assert names == ["circle/sub_photo_0.png", "a_b..c/sub_photo_1.png", "circle/sub_photo_3.png"]
    for path, (x1, y1, x2, y2) in zip(saved, [(10, 5, 60, 46), (100, 80, 180, 130), (0, 0, 20, 30)]):
        x2, y2 = min(x2, shape[1]), min(y2, shape[0])
        assert np.array_equal(cv2.imread(str(path)), image[y1:y2, x1:x2])  # PNG in, PNG crops: the very pixels
    smooth = np.dstack([np.tile(np.arange(320, dtype=np.uint8), (240, 1))] * 3)
    (first, *_) = CropSaver(tmp_path / "smooth").save(result("photo.jpg"), smooth)
    assert first.suffix == ".jpg" and np.abs(cv2.imread(str(first)).astype(int) - smooth[5:46, 10:60]).max() <= 3


def test_a_taken_name_gets_a_suffix_and_the_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "circle").mkdir()
    mine = tmp_path / "circle" / "photo_0.jpg"
    mine.write_bytes(b"the user's file")
    image = np.zeros((240, 320, 3), np.uint8)
    saver = CropSaver(tmp_path)
    first = saver.save(result("photo.jpg"), image, skip=np.array([False, True, True, True]))
    again = saver.save(result("photo.jpg"), image, skip=np.array([False, True, True, True]))
    assert mine.read_bytes() == b"the user's file"
    assert [p.name for p in first + again] == ["photo_0_1.jpg", "photo_0_2.jpg"]


def test_video_frames_say_their_frame() -> None:
    assert crop_stem(result("clips/run.mp4", frame=42)) == "clips_run_f000042"
    assert crop_stem(result("../../etc/x.png")) == "etc_x"
    assert crop_suffix(result("clips/run.mp4", frame=42)) == ".jpg" and crop_suffix(result("a.PNG")) == ".png"
