"""Labelled images made up for the evaluation tests: exact boxes, or random scenes with every kind of error."""

from __future__ import annotations

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.evaluation.errors import LabelledImage
from detect_cli.evaluation.predictions import Prediction

NAMES = {0: "circle", 1: "square", 2: "triangle", 3: "star"}


def boxes(rows: list[tuple[float, float, float, float, int]], conf: list[float] | None = None) -> Detections:
    """Detections from (x1, y1, x2, y2, class) rows; confidences default to 0.9, 0.8, ..."""
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    scores = conf if conf is not None else [0.9 - 0.1 * k for k in range(len(arr))]
    return Detections(arr[:, :4], scores, arr[:, 4].astype(np.int64))


def labelled(truth: Detections, dets: Detections, name: str = "im.jpg", size: int = 500) -> LabelledImage:
    return LabelledImage(Prediction(name, f"/data/{name}", size, size, dets), truth)


def random_images(seed: int, n_images: int = 40, classes: int = 4) -> list[LabelledImage]:
    """Scenes with near, far and relabelled copies of each label, and boxes on the background."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        m = int(rng.integers(0, 6))
        xy, wh = rng.uniform(0, 400, (m, 2)), rng.uniform(20, 120, (m, 2))
        truth = np.hstack([xy, xy + wh])
        truth_cls = rng.integers(0, classes, m)
        rows, cls, conf = [], [], []
        for box, c in zip(truth, truth_cls):
            for _ in range(int(rng.integers(0, 3))):
                rows.append(box + rng.normal(0, rng.choice([2, 15, 40]), 4))
                cls.append(c if rng.random() < 0.8 else rng.integers(0, classes))
                conf.append(rng.random())
        for _ in range(int(rng.integers(0, 4))):
            corner, size = rng.uniform(0, 450, 2), rng.uniform(10, 100, 2)
            rows.append(np.r_[corner, corner + size])
            cls.append(rng.integers(0, classes))
            conf.append(rng.random() * 0.6)
        found = np.array(rows).reshape(-1, 4)
        found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 1)
        dets = Detections(found, conf, cls)
        images.append(labelled(Detections(truth, np.ones(m), truth_cls), dets, f"im{i:03d}.jpg"))
    return images
