"""Overlay folders: one per input, unique like --save's file names, never one that existed before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detect_cli.attention.overlays import overlay_folder, save_overlays
from detect_cli.attention.run import ImageAttention
from detect_cli.core.detections import Detections
from detect_cli.outputs.image_saver import ImageSaver


def test_same_names_get_their_own_folders(tmp_path: Path) -> None:
    saver = ImageSaver(tmp_path)
    names = ["img.jpg", "img.jpg", "img.png", "sub/img.jpg", "IMG.JPG"]
    folders = [overlay_folder(saver, n).relative_to(tmp_path.resolve()).as_posix() for n in names]
    assert folders == ["img", "img_1", "img_2", "sub/img", "IMG_3"]


def test_a_folder_from_an_earlier_run_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    assert overlay_folder(ImageSaver(tmp_path), "img.jpg").name == "img_1"


def test_save_overlays_never_writes_into_an_existing_folder(tmp_path: Path) -> None:
    earlier = tmp_path / "img_attention"
    earlier.mkdir()
    (earlier / "attention.jpg").write_bytes(b"earlier")
    heat = np.zeros((8, 8), np.float32)
    box = Detections([[1, 1, 4, 4]], [0.9], [0])
    result = ImageAttention(box, {0: "a/b"}, "test", {"attention": heat}, {"attention": [heat]})
    target = save_overlays(tmp_path, "img_attention", np.zeros((8, 8, 3), np.uint8), result, raw=True)
    assert target.name == "img_attention_1" and (earlier / "attention.jpg").read_bytes() == b"earlier"
    assert sorted(p.name for p in target.iterdir()) == [
        "attention.jpg",
        "det_00_a_b_attention.jpg",
        "det_00_a_b_attention.npy",
    ]
