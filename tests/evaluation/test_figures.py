"""The figures: drawn images that say what they show (the matrix its threshold), the best F1 marked."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.evaluation import figures
from detect_cli.evaluation.analysis import analyse, analyse_models
from tests.evaluation.synthetic import NAMES, boxes, labelled, random_images


@pytest.fixture(scope="module")
def analysis():
    return analyse(random_images(0, n_images=15), NAMES, conf=0.3, matrix_conf=0.45, matrix_iou=0.6)


def red(image: np.ndarray) -> int:
    b, g, r = (image[..., k].astype(int) for k in range(3))
    return int(((r > 200) & (g < 60) & (b < 60)).sum())


def test_every_figure_is_a_drawn_picture(analysis) -> None:
    images = [
        figures.pr_figure(analysis.pr),
        figures.f1_figure(analysis.f1, "demo"),
        figures.confusion_figure(analysis.matrix, normalised=False),
        figures.confusion_figure(analysis.matrix, normalised=True),
        figures.tide_figure(analysis.tide),
    ]
    diff = analyse_models(["a", "b"], [random_images(0, 8), random_images(1, 8)], [NAMES, NAMES], conf=0.3)
    images.append(figures.difference_figure(diff.differences[0]))
    for image in images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.shape[0] >= 400 and image.shape[1] >= 600 and image.std() > 10


def test_the_matrix_says_the_confidence_and_iou_it_was_made_at(analysis) -> None:
    assert figures.confusion_title(analysis.matrix, normalised=False) == (
        "Confusion matrix at conf 0.45, IoU 0.6 (counts)"
    )
    assert "each row over its total" in figures.confusion_title(analysis.matrix, normalised=True)


def test_the_best_threshold_is_marked_only_where_there_is_one() -> None:
    one_class = {0: "circle"}
    found = [labelled(boxes([(0, 0, 50, 50, 0)]), boxes([(0, 0, 50, 50, 0)]))]
    nothing = [labelled(boxes([(0, 0, 50, 50, 0)]), boxes([]))]
    marked = figures.f1_figure(analyse(found, one_class, conf=0.3).f1)
    unmarked = figures.f1_figure(analyse(nothing, one_class, conf=0.3).f1)
    assert red(marked) > 100 and red(unmarked) == 0


def test_dollar_signs_in_names_and_titles_are_drawn_as_they_are() -> None:
    """A class named `$\\frac{$` (or any `$...$`) crashed inside matplotlib's mathtext: every figure
    of the evaluation was lost. Text is drawn as given; matplotlib's own setting is left as it was."""
    import matplotlib

    odd = {0: "$\\frac{$", 1: "a $b^{$ c", 2: "$x$", 3: "$"}
    images = random_images(0, n_images=15)
    analysis = analyse(images, odd, conf=0.3, matrix_conf=0.45, matrix_iou=0.6)
    diff = analyse_models(["$m^{$", "b$"], [images[:8], random_images(1, 8)], [odd, odd], conf=0.3)
    for image in (
        figures.pr_figure(analysis.pr, "$run{$"),
        figures.f1_figure(analysis.f1, "$"),
        figures.confusion_figure(analysis.matrix, normalised=True, title="$\\sqrt{$"),
        figures.tide_figure(analysis.tide, "$a$"),
        figures.difference_figure(diff.differences[0]),
    ):
        assert image.ndim == 3 and image.std() > 10
    assert matplotlib.rcParams["text.parse_math"] is True
