"""In-memory images from Python: arrays and PIL images as sources, mixed with paths, in order."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detect_cli.inputs.arrays import in_memory_source, python_sources
from detect_cli.inputs.images import read_decoded
from detect_cli.inputs.sources import iter_sources
from tests.conftest import SAMPLES

SHAPE = SAMPLES / "shapes" / "shape_00003.jpg"


def test_a_cv2_frame_is_read_as_it_is() -> None:
    frame = cv2.imread(str(SHAPE))
    (source,) = python_sources(frame)
    assert source.ref == "<array 0>" and source.name == "image0.jpg" and source.error is None
    assert np.array_equal(read_decoded(source).pixels, frame)


def test_a_pil_image_becomes_the_bgr_pixels_the_file_gives() -> None:
    (source,) = python_sources(Image.open(SHAPE))
    assert source.ref == "<PIL image 0>"
    assert np.array_equal(read_decoded(source).pixels, read_decoded(next(iter_sources([str(SHAPE)]))).pixels)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((48, 64), np.uint8), (48, 64, 3)),  # grey
        (np.zeros((48, 64, 1), np.uint8), (48, 64, 3)),
        (np.zeros((48, 64, 4), np.uint8), (48, 64, 3)),  # BGRA, as cv2.IMREAD_UNCHANGED reads a PNG
        (np.full((36, 64, 3), 0.5, np.float32), (36, 64, 3)),  # floats in 0..1
        (np.full((64, 36, 3), 60000, np.uint16), (64, 36, 3)),  # 16-bit, portrait
    ],
)
def test_arrays_of_other_layouts_become_bgr_uint8(array: np.ndarray, expected: tuple[int, ...]) -> None:
    pixels = read_decoded(in_memory_source(array, 0)).pixels
    assert pixels.shape == expected and pixels.dtype == np.uint8 and pixels.flags.c_contiguous


def test_float_and_16_bit_arrays_keep_their_brightness() -> None:
    assert read_decoded(in_memory_source(np.full((8, 8, 3), 0.5, np.float32), 0)).pixels[0, 0, 0] == 127
    assert read_decoded(in_memory_source(np.full((8, 8, 3), 65535, np.uint16), 0)).pixels[0, 0, 0] == 255


@pytest.mark.parametrize(
    ("array", "why"),
    [
        (np.zeros((0, 3, 3), np.uint8), "shape (0, 3, 3)"),
        (np.zeros((4, 4, 2), np.uint8), "shape (4, 4, 2)"),
        (np.zeros(5, np.uint8), "shape (5,)"),
        (np.array([["a"]]), "<U1"),
        (np.full((4, 4, 3), np.nan), "NaN"),
    ],
)
def test_an_array_that_is_no_image_is_an_error_record(array: np.ndarray, why: str) -> None:
    source = in_memory_source(array, 2)
    assert source.ref == "<array 2>" and source.pixels is None
    assert why in source.error and "cv2.imread" in source.error


def test_max_pixels_bounds_arrays_too() -> None:
    source = in_memory_source(np.zeros((100, 100, 3), np.uint8), 0, max_pixels=5000)
    assert source.error == "100x100 is more than max_pixels (5000)"


def test_a_list_mixes_paths_and_images_in_order(tmp_path: Path) -> None:
    frame = np.zeros((30, 40, 3), np.uint8)
    refs = [s.ref for s in python_sources([frame, str(SHAPE), Path(SHAPE), Image.new("RGB", (9, 9)), frame])]
    assert refs == ["<array 0>", str(SHAPE), str(SHAPE), "<PIL image 1>", "<array 2>"]


def test_a_string_is_one_source_never_its_characters() -> None:
    assert [s.ref for s in python_sources(str(SAMPLES / "shapes"))][:1] == [str(SAMPLES / "shapes" / "shape_00000.jpg")]
    assert [s.name for s in iter_sources(str(SHAPE))] == ["shape_00003.jpg"]
    assert [s.name for s in iter_sources(SHAPE)] == ["shape_00003.jpg"]


@pytest.mark.parametrize("bad", [None, 3, 2.5, b"x.jpg", {"a": 1}])
def test_a_value_of_the_wrong_type_is_a_type_error_naming_the_argument(bad: object) -> None:
    with pytest.raises(TypeError, match=r"^source: expected a path"):
        python_sources(bad)
    with pytest.raises(TypeError, match=r"^iter_sources\(args\): expected a path"):
        iter_sources(bad)  # type: ignore[arg-type]  # at the call, not when first iterated


def test_a_wrong_item_in_a_list_is_named_by_its_place() -> None:
    with pytest.raises(TypeError, match=r"^source\[1\]: expected a path, .* got None"):
        python_sources([str(SHAPE), None])
    with pytest.raises(TypeError, match=r"^iter_sources\(args\)\[1\]: expected a path, .* got int"):
        list(iter_sources([str(SHAPE), 7]))  # type: ignore[list-item]
