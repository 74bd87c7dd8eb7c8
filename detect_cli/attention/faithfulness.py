"""Is a map faithful? Blur the top-k% pixels it points at and watch the detection's confidence
fall; compare with blurring the same number of random pixels (a deletion test)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from detect_cli.attention.maps import resize_map, top_fraction_mask
from detect_cli.detections import Detections
from detect_cli.matching import match
from detect_cli.models import Detector, PredictOptions

FRACTIONS = (0.05, 0.10, 0.20)
PROBE_CONF = 0.001  # after deletion, look for the detection even when its score has collapsed


def surviving_confidence(before: Detections, j: int, after: Detections) -> float:
    """Confidence of detection j in a re-run: its same-class match at IoU >= 0.5, else 0."""
    target = before[j]
    pairs = match(target, after, 0.5)
    return float(after.confidence[pairs.b[0]]) if len(pairs) else 0.0


def blurred(image: np.ndarray) -> np.ndarray:
    sigma = max(image.shape[:2]) / 40
    return cv2.GaussianBlur(image, (0, 0), sigma)


@dataclass
class DeletionScores:
    """Mean confidence drop per method and fraction, over all detections seen."""

    drops: dict[tuple[str, float], list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, method: str, fraction: float, drop: float) -> None:
        self.drops[(method, fraction)].append(drop)

    def merge(self, other: DeletionScores) -> None:
        for key, values in other.drops.items():
            self.drops[key].extend(values)

    def mean(self, method: str, fraction: float) -> float | None:
        values = self.drops.get((method, fraction))
        return float(np.mean(values)) if values else None

    def table(self) -> list[dict[str, float | str | None]]:
        """One row per method and one for random pixels; no rows when no detection was tested."""
        if not self.drops:
            return []
        methods = [*sorted({m for m, _ in self.drops if m != "random"}), "random"]
        rows = []
        for method in methods:
            row: dict[str, float | str | None] = {"method": method}
            for f in FRACTIONS:
                mine, rand = self.mean(method, f), self.mean("random", f)
                row[f"drop@{round(f * 100)}%"] = None if mine is None else round(mine, 4)
                if method != "random" and mine is not None and rand:
                    row[f"ratio@{round(f * 100)}%"] = round(mine / rand, 2)
            rows.append(row)
        return rows


def deletion_test(
    detector: Detector,
    image: np.ndarray,
    detections: Detections,
    maps_by_method: dict[str, Sequence[np.ndarray]],
    options: PredictOptions,
    scores: DeletionScores,
    rng: np.random.Generator,
    fractions: Sequence[float] = FRACTIONS,
    predict: Callable[[np.ndarray], Detections] | None = None,
) -> list[dict[str, float]]:
    """Per detection: {"<method>@<k>": confidence drop}. Updates `scores` with the same numbers."""
    probe = replace(options, conf=PROBE_CONF)
    run = predict or (lambda img: detector.predict([img], probe)[0][0])
    soft = blurred(image)
    per_detection = []
    for j in range(len(detections)):
        before = float(detections.confidence[j])
        full = {method: resize_map(maps[j], *image.shape[:2]) for method, maps in maps_by_method.items()}
        figures: dict[str, float] = {}
        for fraction in fractions:
            count = 0
            for method, heat in full.items():
                mask = top_fraction_mask(heat, fraction)
                count = int(mask.sum())
                edited = np.where(mask[..., None], soft, image)
                drop = before - surviving_confidence(detections, j, run(edited))
                figures[f"{method}@{round(fraction * 100)}%"] = round(drop, 4)
                scores.add(method, fraction, drop)
            flat = np.zeros(image.shape[0] * image.shape[1], dtype=bool)
            flat[rng.choice(flat.size, size=count, replace=False)] = True
            edited = np.where(flat.reshape(image.shape[:2])[..., None], soft, image)
            drop = before - surviving_confidence(detections, j, run(edited))
            figures[f"random@{round(fraction * 100)}%"] = round(drop, 4)
            scores.add("random", fraction, drop)
        per_detection.append(figures)
    return per_detection
