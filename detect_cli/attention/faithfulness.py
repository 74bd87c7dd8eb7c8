"""The pieces every faithfulness measure shares: how a region is removed (blurred), and how the
same detection is found again in a re-run (matched by class and IoU)."""

from __future__ import annotations

import cv2
import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.matching import match

PROBE_CONF = 0.001  # re-runs look for the detection even when its score has collapsed


def surviving_confidence(before: Detections, j: int, after: Detections) -> float:
    """Confidence of detection j in a re-run: its same-class match at IoU >= 0.5, else 0."""
    pairs = match(before[j], after, 0.5)
    return float(after.confidence[pairs.b[0]]) if len(pairs) else 0.0


def blurred(image: np.ndarray) -> np.ndarray:
    """The image with its detail removed: a Gaussian blur with sigma 1/40 of its longer side (8 px at
    320), RISE's insertion canvas. Less out of distribution than black or a flat colour."""
    sigma = max(image.shape[:2]) / 40
    return cv2.GaussianBlur(image, (0, 0), sigma)
