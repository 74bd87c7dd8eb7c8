"""The moving-shapes clips at other shapes than the square (the tracker tests score the square ones)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.demo.videos import main, write_video


def _gt(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


@pytest.mark.parametrize("crossing", [False, True])
def test_a_16_9_clip_has_its_size_and_ground_truth_inside_it(tmp_path: Path, crossing: bool) -> None:
    video, gt_path = write_video(tmp_path / "wide.avi", 24, seed=4, size=(1280, 720), crossing=crossing)
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (ok := capture.read())[0]:
        frames.append(ok[1])
    capture.release()
    assert len(frames) == 24 and frames[0].shape == (720, 1280, 3)
    gt = _gt(gt_path)
    assert len(gt) > 0 and set(gt[:, 0].astype(int)) <= set(range(1, 25))
    x, y, w, h = gt[:, 2], gt[:, 3], gt[:, 4], gt[:, 5]
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= 1280).all() and (y + h <= 720).all()
    if not crossing:
        assert (x + w).max() > 720  # the objects use the width, not a 720 square
    assert np.median(np.maximum(w, h)) > 70  # radii scaled by 1280/320: 14-34 px become 56-136


def test_a_portrait_clip_is_taller_than_wide(tmp_path: Path) -> None:
    main([str(tmp_path / "tall.avi"), "--frames", "6", "--size", "360x640"])
    capture = cv2.VideoCapture(str(tmp_path / "tall.avi"))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (640, 360, 3)
    assert (tmp_path / "tall_gt.txt").exists()


def test_the_same_seed_gives_the_same_wide_clip(tmp_path: Path) -> None:
    _, a = write_video(tmp_path / "a.avi", 10, seed=9, size=(640, 360))
    _, b = write_video(tmp_path / "b.avi", 10, seed=9, size=(640, 360))
    assert a.read_text() == b.read_text() != ""
