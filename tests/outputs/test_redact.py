from __future__ import annotations

import cv2
import numpy as np
import pytest

from detect_cli.outputs.redact import Redactor, pixel_boxes

BOX = np.array([[30.4, 20.6, 150.2, 110.9]])  # covers columns 30..150, rows 20..110


def detailed(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def sharpness(region: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("shape", [(240, 320), (180, 320), (320, 240)])  # 4:3, 16:9, portrait
@pytest.mark.parametrize("style", ["fill", "pixelate", "blur"])
def test_the_whole_box_is_hidden_and_nothing_else_changes(shape: tuple[int, int], style: str) -> None:
    image = detailed(*shape)
    out = Redactor(style).apply(image, BOX)
    x1, y1, x2, y2 = pixel_boxes(BOX, shape[1], shape[0])[0]
    assert (x1, y1) == (30, 20) and x2 == min(151, shape[1]) and y2 == min(111, shape[0])
    outside = np.ones(shape, bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(out[outside], image[outside])  # not a pixel outside the box changed
    inside = out[y1:y2, x1:x2]
    if style == "fill":
        assert inside.std() == 0
    elif style == "pixelate":  # blocks of one colour each, at most 8 across the longer side
        block = -(-max(inside.shape[:2]) // 8)
        for by in range(0, inside.shape[0], block):
            for bx in range(0, inside.shape[1], block):
                assert inside[by : by + block, bx : bx + block].reshape(-1, 3).std(axis=0).max() == 0
    else:
        assert sharpness(inside) < 0.001 * sharpness(image[y1:y2, x1:x2])
    assert np.array_equal(image, detailed(*shape))  # the input is left as it was


def test_boxes_outside_or_empty_change_nothing() -> None:
    image = detailed(60, 80)
    boxes = np.array([[-50, -50, -10, -10], [90, 10, 120, 40], [10, 10, 10, 40]], np.float32)
    assert np.array_equal(Redactor("fill").apply(image, boxes), image)
    assert np.array_equal(Redactor("blur").apply(image, np.zeros((0, 4))), image)


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="blur, pixelate, fill"):
        Redactor("smudge")
