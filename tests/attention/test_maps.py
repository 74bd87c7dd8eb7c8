from __future__ import annotations

import numpy as np
import pytest

from detect_cli.attention.maps import figures, map_size, normalise, splat, top_fraction_mask, unletterbox


def test_splat_puts_weight_where_the_point_is() -> None:
    heat = splat(np.array([[0.25, 0.75]]), np.array([1.0]), 40, 80, sigma=0)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert (x, y) in {(19, 29), (20, 30), (19, 30), (20, 29)}
    assert heat.sum() == pytest.approx(1.0)


def test_splat_ignores_points_outside_the_image() -> None:
    heat = splat(np.array([[1.5, 0.5], [-0.7, 0.2]]), np.array([1.0, 1.0]), 10, 10, sigma=0)
    assert heat.sum() == 0


def test_unletterbox_maps_a_marked_input_pixel_back() -> None:
    # an 810x1080 (w x h) image letterboxed into 256x320: gain 320/1080, padded left/right
    h0, w0, in_h, in_w = 1080, 810, 320, 256
    gain = min(in_h / h0, in_w / w0)
    pad_x = (in_w - round(w0 * gain)) / 2
    heat = np.zeros((in_h, in_w), np.float32)
    x_orig, y_orig = 600, 300
    heat[round(y_orig * gain), round(x_orig * gain + pad_x)] = 1.0
    back = unletterbox(heat, (h0, w0))
    assert back.shape == (h0, w0)
    y, x = np.unravel_index(np.argmax(back), back.shape)
    assert abs(x - x_orig) < 6 and abs(y - y_orig) < 6


def test_figures_peak_and_mass() -> None:
    heat = np.zeros((100, 200), np.float32)
    heat[10:20, 150:160] = 1.0
    heat[80, 5] = 0.5
    fig = figures(heat, np.array([140, 0, 170, 30]))
    assert fig.peak_xy == (150.0, 10.0)
    assert fig.mass_in_box == pytest.approx(100 / 100.5)


def test_top_fraction_and_normalise() -> None:
    heat = np.arange(100, dtype=np.float32).reshape(10, 10)
    mask = top_fraction_mask(heat, 0.1)
    assert mask.sum() == 10 and mask[9].all()
    assert normalise(heat).max() == 1.0 and normalise(np.zeros((2, 2))).max() == 0.0


@pytest.mark.parametrize(("h0", "w0", "in_h", "in_w"), [(1, 5000, 32, 320), (5000, 1, 320, 32), (2, 2, 320, 320)])
def test_unletterbox_takes_any_aspect_ratio(h0: int, w0: int, in_h: int, in_w: int) -> None:
    # Ultralytics keeps a 1-pixel side at least 1 pixel high in the letterboxed input; the map must follow
    heat = np.zeros((in_h, in_w), np.float32)
    gain = min(in_h / h0, in_w / w0)
    new_h, new_w = max(round(h0 * gain), 1), max(round(w0 * gain), 1)
    top, left = round((in_h - new_h) / 2 - 0.1), round((in_w - new_w) / 2 - 0.1)
    heat[top + new_h // 2 : top + new_h, left + new_w // 2 : left + new_w] = 1.0  # the image's far quarter
    back = unletterbox(heat, (h0, w0))
    assert back.shape == (h0, w0)
    assert back[-1, -1] == pytest.approx(1.0) and back[0, 0] < 0.5


def test_a_box_thinner_than_a_pixel_still_covers_one() -> None:
    heat = np.zeros((1, 50), np.float32)
    heat[0, 20] = 1.0
    assert figures(heat, np.array([19.6, -0.01, 21.2, 0.18])).mass_in_box == pytest.approx(1.0)
    assert figures(heat, np.array([30.0, -0.01, 40.0, 0.18])).mass_in_box == 0.0


def test_figures_on_a_map_smaller_than_the_image() -> None:
    # the same map at full size (200 x 100) and at half size must give the same figures in image pixels
    full = np.zeros((100, 200), np.float32)
    full[10:20, 150:160] = 1.0
    half = full.reshape(50, 2, 100, 2).mean(axis=(1, 3))
    box = np.array([140, 0, 170, 30])
    big, small = figures(full, box), figures(half, box, (100, 200))
    assert small.mass_in_box == pytest.approx(big.mass_in_box) == 1.0
    assert small.peak_xy == (150.5, 10.5) and big.peak_xy == (150.0, 10.0)  # within a map pixel


@pytest.mark.parametrize(
    ("hw", "expected"),
    [((4000, 3000), (640, 480)), ((320, 320), (320, 320)), ((1, 5000), (1, 640)), ((5000, 1), (640, 1))],
)
def test_map_size_is_bounded(hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert map_size(*hw) == expected
