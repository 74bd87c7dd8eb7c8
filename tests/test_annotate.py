"""`BoxAnnotator`: draws boxes on a copy, where the boxes are, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.annotate import BoxAnnotator, class_color
from detect_cli.detections import Detections
from tests.helpers import NAMES, make_detections


def scene(height: int = 120, width: int = 160, value: int = 30) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


@pytest.mark.parametrize(
    ("shape", "box"),
    [
        ((120, 160, 3), (40, 50, 100, 90)),
        ((120, 160, 3), (0, 0, 30, 20)),  # at the top edge: the label goes inside
        ((64, 48, 3), (10.4, 12.6, 30.2, 50.9)),  # fractional coordinates
        ((300, 200, 3), (150, 250, 199, 299)),  # touching the bottom-right corner
    ],
)
def test_draws_where_the_box_is_and_keeps_the_shape(shape, box):
    image = scene(*shape[:2])
    before = image.copy()
    d = Detections([box], [0.87], [1])
    out = BoxAnnotator().annotate(image, d, NAMES)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out is not image
    np.testing.assert_array_equal(image, before)  # input not mutated
    changed = np.any(out != image, axis=2)
    assert changed.any()
    x1, y1, x2, y2 = (round(v) for v in box)
    assert changed[y1 : y2 + 1, x1 : x2 + 1].any()  # the outline is drawn on the box
    h, w = shape[:2]
    # far away from the box (and its label, which sits right above or inside it), nothing changes
    far = np.ones((h, w), bool)
    far[max(0, y1 - 40) : y2 + 40, max(0, x1 - 10) : x2 + 120] = False
    assert not changed[far].any()


def test_the_box_outline_uses_the_class_colour():
    image = scene(200, 200, value=0)
    out = BoxAnnotator(line_width=3).annotate(image, Detections([[60, 80, 140, 160]], [0.5], [2]), NAMES)
    bottom_edge = out[160, 70:130]  # away from the label and the anti-aliased corners
    assert (bottom_edge == class_color(2)).all(axis=1).mean() > 0.9
    assert (out[120, 100] == 0).all()  # the inside of the box stays untouched


def test_no_detections_gives_an_identical_copy():
    image = scene()
    out = BoxAnnotator().annotate(image, Detections.empty(), NAMES)
    assert out is not image
    np.testing.assert_array_equal(out, image)


def test_many_boxes_and_unknown_class_names_do_not_fail():
    image = scene(240, 320)
    d = make_detections(25, seed=3, width=320, height=240, classes=12)  # ids beyond NAMES are printed as numbers
    out = BoxAnnotator().annotate(image, d, NAMES)
    assert out.shape == image.shape
    assert (np.any(out != image, axis=2)).sum() > 25 * 10


def test_boxes_partly_outside_the_image_are_clipped_not_fatal():
    image = scene(50, 50)
    d = Detections([[-20, -20, 10, 10], [40, 40, 500, 500]], [0.9, 0.4], [0, 1])
    out = BoxAnnotator().annotate(image, d, NAMES)
    assert out.shape == image.shape and np.any(out != image)


def test_class_colours_are_stable_and_distinct():
    colours = [class_color(i) for i in range(20)]
    assert colours == [class_color(i) for i in range(20)]
    assert len(set(colours)) == 20
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colours)
