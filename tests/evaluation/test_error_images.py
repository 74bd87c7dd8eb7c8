"""Drawn verdicts: true positives, false detections and labels not found each in their colour and line."""

from __future__ import annotations

import numpy as np

from detect_cli.evaluation.error_images import (
    FALSE_COLOUR,
    MISSED_COLOUR,
    PANEL_HEIGHT,
    TRUE_COLOUR,
    attention_panel,
    draw_verdict,
)
from detect_cli.evaluation.worst import score_images
from tests.evaluation.synthetic import NAMES, boxes, labelled

BAR = 28  # the caption bar above the picture


def near(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.abs(pixels.astype(int) - colour).sum(axis=-1) < 60


def test_each_kind_is_drawn_in_its_colour_and_line() -> None:
    truth = boxes([(50, 50, 150, 150, 0), (300, 300, 450, 450, 1)])
    dets = boxes([(50, 50, 150, 150, 0), (200, 20, 260, 80, 2)])  # a true positive, a box on nothing
    (score,) = score_images([labelled(truth, dets)], conf=0.0)
    image = np.full((500, 500, 3), 128, np.uint8)
    out = draw_verdict(image, score, NAMES)
    scale = PANEL_HEIGHT / 500
    legend = out.shape[0] - BAR - PANEL_HEIGHT
    assert out.shape[1] == 480 and 20 < legend < 90
    panel = out[BAR : BAR + PANEL_HEIGHT]

    def left_edge(box: tuple[int, int, int, int]) -> np.ndarray:  # the box's left side, below any label
        x1, y1, _, y2 = (round(v * scale) for v in box)
        return panel[y1 + 25 : y2 - 2, max(x1 - 3, 0) : x1 + 4]

    assert near(left_edge((50, 50, 150, 150)), TRUE_COLOUR).any(axis=1).all()  # solid
    assert near(left_edge((200, 20, 260, 80)), FALSE_COLOUR).any(axis=1).all()
    dashes = near(left_edge((300, 300, 450, 450)), MISSED_COLOUR).any(axis=1)
    assert 0.3 < dashes.mean() < 0.8  # dashed: on and off along the side
    assert not near(panel, MISSED_COLOUR)[:, :200].any()  # nothing else is orange


def test_the_false_detections_attention_is_drawn_over_it() -> None:
    image = np.full((500, 500, 3), 128, np.uint8)
    heat = np.zeros((500, 500), np.float32)
    heat[:100, :100] = 1
    out = attention_panel(image, heat, np.array([200, 200, 300, 300]), "bkg: circle 0.60")
    assert out.shape == (BAR + PANEL_HEIGHT, 480, 3)
    hot, cold = out[BAR + 10 : BAR + 80, 10:80], out[BAR + 400 :, 400:]
    assert hot[..., 2].mean() > hot[..., 0].mean() + 40  # JET: red where the map is hot
    assert cold[..., 0].mean() > cold[..., 2].mean() + 40  # and blue where it is cold


def test_a_label_box_far_past_the_picture_is_drawn_as_far_as_it_shows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A label box of a million pixels once drew its dashed outline dash by dash, unclipped (1e308:
    for ever): it is clipped to the picture first, so a few hundred dashes at most."""
    import cv2

    from detect_cli.evaluation import error_images

    lines = []
    real = cv2.line
    monkeypatch.setattr(error_images.cv2, "line", lambda image, *a, **k: lines.append(a) or real(image, *a, **k))
    truth = boxes([(1, 1, 1e6, 1e6, 0)])
    (score,) = score_images([labelled(truth, boxes([]))], conf=0.0)
    out = draw_verdict(np.full((500, 500, 3), 128, np.uint8), score, NAMES)
    assert 20 < len(lines) < 500
    panel = out[BAR : BAR + PANEL_HEIGHT]
    assert near(panel[40:, :4], MISSED_COLOUR).any()  # its left side, at the picture's edge
