"""looks_complete: a file still being written is told from a whole one by its format's ends."""

from __future__ import annotations

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
