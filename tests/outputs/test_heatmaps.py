"""--heatmap's files: a picture with a labelled scale and the raw counts, never replacing a file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detect_cli.outputs.heatmaps import SCALE_MIN_HEIGHT, SCALE_WIDTH, heatmap_picture, save_heatmap


def test_the_picture_is_the_frame_with_the_map_over_it_and_a_scale_beside() -> None:
    counts = np.zeros((24, 32), np.float32)
    counts[12, 16] = 5
    frame = np.full((240, 320, 3), 128, np.uint8)
    picture = heatmap_picture(counts, frame, 320, 240, "all", 10.0)
    assert picture.shape == (240, 320 + SCALE_WIDTH, 3)
    assert np.abs(picture[125, 165].astype(int) - 128).sum() > 60  # coloured where the centres are
    assert (picture[5, 5] == 128).all()  # the frame itself where there are none
    assert (picture[:, 320:] != 255).any(axis=2).sum() > 500  # the colour ramp and its labels


def test_saving_never_replaces_a_file(tmp_path: Path) -> None:
    counts = np.arange(12, dtype=np.float32).reshape(3, 4)
    picture = np.zeros((30, 40, 3), np.uint8)
    mine = tmp_path / "clip_heatmap_all.png"
    mine.write_bytes(b"the user's")
    png, npy = save_heatmap(tmp_path, "clip.mp4", "all", counts, picture)
    assert (png.name, npy.name) == ("clip_heatmap_all_1.png", "clip_heatmap_all_1.npy")
    assert mine.read_bytes() == b"the user's"
    assert np.array_equal(np.load(npy), counts) and cv2.imread(str(png)).shape == (30, 40, 3)
    again = save_heatmap(tmp_path, "clip.mp4", "all", counts, picture)
    assert again[0].name == "clip_heatmap_all_2.png"


def test_a_sequence_shorter_than_the_scale_is_padded_below_and_keeps_its_scale() -> None:
    """Under 40 rows the ramp was drawn past the panel's end (exit 1, no map at all)."""
    for width, height in ((64, 1), (64, 20), (64, 39), (1, 1), (1920, 16)):
        counts = np.zeros((max(1, height // 4), max(1, width // 4)), np.float32)
        counts[0, 0] = 2
        picture = heatmap_picture(counts, np.full((height, width, 3), 128, np.uint8), width, height, "all", 4.0)
        assert picture.shape == (SCALE_MIN_HEIGHT, width + SCALE_WIDTH, 3)
        assert (picture[height:, :width] == 255).all()  # white below the frame
        assert (picture[:, width:] != 255).any(axis=2).sum() > 500  # the colour ramp and its labels
