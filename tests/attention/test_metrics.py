"""Faithfulness measures on synthetic maps and a fake scorer (no model): the numbers they must give."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.attention.drise import drise_maps, random_masks
from detect_cli.attention.metrics import FRACTIONS, MetricTable, bootstrap, measure
from detect_cli.core.detections import Detections

SIZE, X1, Y1, SIDE = 128, 40, 56, 32  # a 32 x 32 box: 1/16 of a 128 x 128 image
BOX = np.array([[X1, Y1, X1 + SIDE, Y1 + SIDE]], dtype=np.float32)


def textured(rng: np.random.Generator) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), 128, np.uint8)
    image[Y1 : Y1 + SIDE, X1 : X1 + SIDE] = rng.integers(0, 255, (SIDE, SIDE, 3))  # the evidence
    return image


def fake_scorer(original: np.ndarray):
    """A 'detector' whose confidence in the box is the share of the box's pixels left as they were."""

    def score(images: list[np.ndarray]) -> list[Detections]:
        box = (slice(Y1, Y1 + SIDE), slice(X1, X1 + SIDE))
        return [Detections(BOX, [(im[box] == original[box]).all(axis=2).mean()], [0]) for im in images]

    return score


def box_mask() -> np.ndarray:
    heat = np.zeros((SIZE, SIZE), np.float32)
    heat[Y1 : Y1 + SIDE, X1 : X1 + SIDE] = 1.0
    return heat


def test_a_map_equal_to_the_box_mask_scores_as_expected() -> None:
    rng = np.random.default_rng(0)
    image = textured(rng)
    scorer = fake_scorer(image)
    (before,) = scorer([image])
    (figures,) = measure(image, before, {"box": [box_mask()]}, scorer, rng)
    # deleting the box first: confidence 1, 1/2 at 1/32 of the pixels, 0 from 1/16 on; inserting: the mirror image
    assert FRACTIONS[:3] == (0.0, 1 / 32, 1 / 16)
    assert figures["box"]["deletion_auc"] == pytest.approx((1 + 0.5) / 2 / 32 + 0.5 / 2 / 32)  # 1/32
    assert figures["box"]["insertion_auc"] == pytest.approx(1 - 1 / 32)
    assert figures["box"]["ebpg"] == 1.0 and figures["box"]["pointing"] == 1.0
    # a map of noise removes the box's pixels at the pace of all others: confidence 1 - f, area 1/2
    assert figures["random"]["deletion_auc"] == pytest.approx(0.5, abs=0.03)
    assert figures["random"]["insertion_auc"] == pytest.approx(0.5, abs=0.03)
    assert figures["random"]["ebpg"] == pytest.approx(1 / 16, abs=0.01)


def test_a_map_off_the_object_scores_worse_than_random() -> None:
    rng = np.random.default_rng(1)
    image = textured(rng)
    scorer = fake_scorer(image)
    off = np.zeros((SIZE, SIZE), np.float32)
    off[:20, :20] = 1.0
    (figures,) = measure(image, scorer([image])[0], {"off": [off]}, scorer, rng)
    assert figures["off"]["deletion_auc"] > figures["random"]["deletion_auc"]
    assert figures["off"]["insertion_auc"] < figures["random"]["insertion_auc"]
    assert figures["off"]["ebpg"] == 0.0 and figures["off"]["pointing"] == 0.0


def test_intervals_shrink_with_more_detections() -> None:
    values = np.random.default_rng(2).normal(0.4, 0.2, 3200)
    few, many = bootstrap(values[:50]), bootstrap(values)
    assert few.low < few.mean < few.high and many.low < many.mean < many.high and many.n == 3200
    assert (many.high - many.low) < (few.high - few.low) / 4  # width ~ 1/sqrt(n): 8x narrower expected
    assert many.low < 0.4 < many.high


def test_the_table_has_a_row_per_method_with_intervals_random_last() -> None:
    table = MetricTable()
    table.add(
        [{"random": {"ebpg": 0.1}, "attention": {"ebpg": 0.8}}, {"random": {"ebpg": 0.2}, "attention": {"ebpg": 0.6}}]
    )
    rows = table.rows()
    assert [r["method"] for r in rows] == ["attention", "random"]
    assert rows[0]["n"] == 2 and rows[0]["ebpg"] == pytest.approx(0.7) and rows[0]["ebpg_ci95"] == [0.6, 0.8]


def test_masks_keep_about_half_the_image() -> None:
    masks = random_masks(200, 40, 60, np.random.default_rng(3))
    assert masks.shape == (200, 40, 60) and 0 <= masks.min() and masks.max() <= 1
    assert masks.mean() == pytest.approx(0.5, abs=0.05)


def test_drise_of_a_black_box_peaks_on_its_evidence() -> None:
    rng = np.random.default_rng(4)
    image = textured(rng)
    evidence = image[Y1 : Y1 + SIDE, X1 : X1 + SIDE].astype(np.float64).sum()

    def predict(images: list[np.ndarray]) -> list[Detections]:  # confidence: how much of the box is visible
        return [Detections(BOX, [im[Y1 : Y1 + SIDE, X1 : X1 + SIDE].sum() / evidence], [0]) for im in images]

    (heat,) = drise_maps(predict, image, predict([image])[0], rng, masks=200)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert X1 <= x < X1 + SIDE and Y1 <= y < Y1 + SIDE
    assert heat[Y1 : Y1 + SIDE, X1 : X1 + SIDE].mean() > 3 * heat[:30, :30].mean()


def test_a_big_image_is_scored_a_few_edits_at_a_time() -> None:
    """Every edit of a 12 MP image held at once took gigabytes: they go to the scorer in chunks of 64 MB."""
    image = np.zeros((1000, 1000, 3), np.uint8)  # 3 MB: 21 edits per call
    image[400:500, 400:500] = 255
    box = np.array([[400, 400, 500, 500]], dtype=np.float32)
    sizes: list[int] = []

    def scorer(images: list[np.ndarray]) -> list[Detections]:
        sizes.append(len(images))
        return [Detections(box, [im[400:500, 400:500].mean() / 255], [0]) for im in images]

    heat = np.zeros((640, 640), np.float32)  # maps are smaller than a big image (maps.map_size)
    heat[256:320, 256:320] = 1.0
    maps = {"box": [heat], "again": [heat]}  # with the random map: 3 maps x 2 curves x 5 edits
    (figures,) = measure(image, scorer([image])[0], maps, scorer, np.random.default_rng(5))
    assert sizes[2:] == [21, 3 * 2 * (len(FRACTIONS) - 2) - 21]  # the image, the blurred image, then the edits
    assert figures["box"]["ebpg"] == pytest.approx(1.0)
    assert figures["box"]["deletion_auc"] < figures["random"]["deletion_auc"]
