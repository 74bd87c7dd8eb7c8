from __future__ import annotations

import numpy as np

from detect_cli.attention.faithfulness import DeletionScores, deletion_test
from detect_cli.detections import Detections
from detect_cli.models import PredictOptions

BOX = np.array([[40, 40, 80, 80]], dtype=np.float32)


def fake_model(image: np.ndarray) -> Detections:
    """A 'detector' whose confidence is how much texture remains inside a fixed box."""
    patch = image[40:80, 40:80].astype(np.float32)
    return Detections(BOX, [min(1.0, patch.std() / 100)], [0])


def test_a_map_on_the_evidence_hurts_more_than_random() -> None:
    rng = np.random.default_rng(0)
    image = np.full((120, 120, 3), 128, np.uint8)
    image[40:80, 40:80] = rng.integers(0, 255, (40, 40, 3))  # the evidence: texture in the box
    before = fake_model(image)
    good = np.zeros((120, 120), np.float32)
    good[40:80, 40:80] = 1.0
    bad = np.zeros((120, 120), np.float32)
    bad[:30, :30] = 1.0
    scores = DeletionScores()
    per_det = deletion_test(None, image, before, {"good": [good], "bad": [bad]}, PredictOptions(), scores,
                            np.random.default_rng(1), predict=fake_model)  # fmt: skip
    assert per_det[0]["good@10%"] > per_det[0]["random@10%"] >= per_det[0]["bad@10%"] - 1e-6
    rows = {r["method"]: r for r in scores.table()}
    assert rows["good"]["ratio@10%"] > 1.5 and rows["bad"]["drop@10%"] == 0
