"""looks_complete: a file still being written is told from a whole one by its format's ends."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from detect_cli.inputs.file_complete import looks_complete
from tests.helpers import image_bytes, pattern_rgb


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_whole_files_pass_and_cut_ones_wait(tmp_path: Path, fmt: str) -> None:
    data = image_bytes(pattern_rgb(64, 80), fmt)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.write_bytes(data)
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert looks_complete(whole)
    assert not looks_complete(cut)


def test_empty_waits_unknown_passes(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "tiff.tif").write_bytes(image_bytes(np.zeros((8, 8, 3), np.uint8), "TIFF")[:20])
    assert not looks_complete(tmp_path / "empty.jpg")
    assert looks_complete(tmp_path / "tiff.tif")  # no end to check: only stillness decides
    assert looks_complete(tmp_path / "missing.jpg")  # the reader says what is wrong


def test_a_fifo_is_not_waited_on(tmp_path: Path) -> None:
    """A FIFO renamed over a settling file: opening it to look blocked the watcher for ever. It is not
    opened (the reader then says "not a regular file (FIFO)"); a guard thread frees a blocked open."""
    import os
    import threading

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    done = threading.Event()

    def release() -> None:  # should the check block opening the FIFO, open its other end after a while
        if not done.wait(5.0):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    guard = threading.Thread(target=release, daemon=True)
    guard.start()
    start = time.monotonic()
    assert looks_complete(fifo)
    done.set()
    assert time.monotonic() - start < 4.0
