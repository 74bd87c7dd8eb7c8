"""`BoxAnnotator`: draws boxes on a copy, where the boxes are, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.outputs.annotate import BoxAnnotator, class_color
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


# ---- label placement (supervision's habit: above the box, inside/below when it would leave the image,
# ---- moved into the image and off other labels)


def intersects(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside(rect: tuple[int, int, int, int], width: int, height: int) -> bool:
    return 0 <= rect[0] < rect[2] <= width and 0 <= rect[1] < rect[3] <= height


def test_labels_of_nearby_boxes_do_not_overlap_and_stay_in_the_image():
    image = scene(200, 240, value=0)
    d = Detections([[20, 60, 90, 150], [40, 64, 120, 160]], [0.9, 0.8], [0, 1])
    annotator = BoxAnnotator()
    first, second = annotator.labels(image.shape, d, NAMES)
    # where the labels would go with no placement (right above each box's top-left corner): they collide
    naive = [
        (x1, y1 - (r[3] - r[1]), x1 + r[2] - r[0], y1)
        for (x1, y1), r in zip([(20, 60), (40, 64)], [first.rect, second.rect])
    ]
    assert intersects(*naive)
    assert not intersects(first.rect, second.rect)
    assert inside(first.rect, 240, 200) and inside(second.rect, 240, 200)
    assert first.rect == naive[0]  # the most confident label keeps its place above its box
    out = annotator.annotate(image, d, NAMES)
    for label in (first, second):  # the drawing uses that layout: each background is its class colour
        x1, y1, x2, y2 = label.rect
        patch = out[y1:y2, x1:x2].reshape(-1, 3)
        assert (patch == label.color).all(axis=1).mean() > 0.5


@pytest.mark.parametrize(
    ("box", "where"),
    [
        ((50, 60, 120, 140), "above"),
        ((50, 0, 120, 80), "inside"),  # at the top edge: inside the box, as before
        ((150, 40, 200, 90), "above"),  # at the right edge: pushed left into the image, still above
        ((-30, 100, 20, 150), "above"),  # partly outside on the left: starts at x = 0
    ],
)
def test_a_single_label_sits_above_or_inside_its_box(box, where):
    width, height = 200, 160
    (label,) = BoxAnnotator().labels((height, width, 3), Detections([box], [0.5], [0]), NAMES)
    x1, y1, x2, y2 = label.rect
    assert inside(label.rect, width, height)
    assert (y2 == box[1]) if where == "above" else (y1 == box[1])
    assert x1 == min(max(0, box[0]), width - (x2 - x1))


def test_a_crowded_row_of_boxes_gets_labels_that_never_overlap():
    boxes = [[10 + 12 * i, 80, 60 + 12 * i, 140] for i in range(8)]  # eight labels cannot all sit above
    d = Detections(boxes, np.linspace(0.9, 0.3, 8), np.arange(8) % 3)
    labels = BoxAnnotator().labels((240, 320, 3), d, NAMES)
    assert all(inside(label.rect, 320, 240) for label in labels)
    assert not any(intersects(a.rect, b.rect) for i, a in enumerate(labels) for b in labels[i + 1 :])


def test_labels_wider_than_the_image_start_at_its_left_edge():
    d = Detections([[2, 10, 20, 30], [5, 12, 25, 40]], [0.7, 0.6], [0, 1])
    out = BoxAnnotator(font_scale=1.0).annotate(scene(40, 30), d, NAMES)
    assert out.shape == (40, 30, 3)
    for label in BoxAnnotator(font_scale=1.0).labels((40, 30, 3), d, NAMES):
        assert label.rect[0] == 0
