"""How faithful is a map to one detection? The measures of the saliency literature, per detection:

- deletion AUC (RISE, D-RISE): the detection's confidence as the map's most salient pixels are
  replaced by a blurred copy of the image, step by step until none is left; lower is better;
- insertion AUC: its confidence as those pixels are revealed, from the blurred image up; higher is better;
- energy-based pointing game (Score-CAM): the share of the map's mass inside the box;
- pointing game: whether the map's peak lies inside the box (no tolerance).

"Its confidence" is that of the *same* detection: the re-run's prediction of the same class with
the highest IoU >= 0.5 with the original box (`faithfulness.surviving_confidence`), else 0. AUCs
are trapezoids over the removed/revealed fraction, so they lie in [0, 1] like the confidence. The
fractions double from 1/32 (`FRACTIONS`): a box covers a few percent of an image, and the curves
change fastest there; 5 re-runs per curve cost what 5 even steps would, for a finer start.
Figures over many detections come with a 95% percentile-bootstrap interval (detections resampled).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from detect_cli.attention.faithfulness import blurred, surviving_confidence
from detect_cli.attention.maps import figures, resize_map
from detect_cli.core.detections import Detections

# images -> detections of each (at a low confidence threshold, so a weakened detection is still seen)
Scorer = Callable[[list[np.ndarray]], list[Detections]]
METRICS = ("deletion_auc", "insertion_auc", "ebpg", "pointing")
FRACTIONS = (0.0, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)  # of the pixels, removed or revealed
CHUNK = 32  # edited images per prediction call


def pixel_order(heat: np.ndarray, image_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices of the image, most salient first. Ties (a map's flat zero background) are
    broken at random, not in raster order, which would delete the top of the image first."""
    full = resize_map(heat, *image_hw).ravel().astype(np.float64)
    jitter = rng.random(full.size) * 1e-9 * max(float(np.ptp(full)), 1e-12)
    return np.argsort(-(full + jitter), kind="stable")


def edited_images(
    image: np.ndarray, removed: np.ndarray, order: np.ndarray, fractions: Sequence[float]
) -> Iterator[np.ndarray]:
    """Deletion images for the fractions, then the insertion images for the same (one at a time:
    a big image's edits do not all fit in memory)."""
    h, w = image.shape[:2]
    flat_image, flat_removed = image.reshape(h * w, -1), removed.reshape(h * w, -1)
    for source, fill in ((flat_image, flat_removed), (flat_removed, flat_image)):
        for fraction in fractions:
            top = order[: round(fraction * order.size)]
            edited = source.copy()
            edited[top] = fill[top]
            yield edited.reshape(image.shape)


def in_chunks(images: Iterable[np.ndarray], scorer: Scorer, size: int) -> list[Detections]:
    found: list[Detections] = []
    chunk: list[np.ndarray] = []
    for image in images:
        chunk.append(image)
        if len(chunk) == size:
            found += scorer(chunk)
            chunk = []
    return found + (scorer(chunk) if chunk else [])


def chunk_size(image: np.ndarray) -> int:
    """Edited images per prediction call: CHUNK, fewer for big images (64 MB of pixels at most)."""
    return max(1, min(CHUNK, int(64e6 // max(image.nbytes, 1))))


def auc(values: Sequence[float], fractions: Sequence[float] = FRACTIONS) -> float:
    """Trapezoid area under values taken at fractions from 0 to 1."""
    v, x = np.asarray(values, dtype=np.float64), np.asarray(fractions, dtype=np.float64)
    return float(((v[:-1] + v[1:]) / 2 * np.diff(x)).sum())


def pointing_hit(heat: np.ndarray, box: np.ndarray, image_hw: tuple[int, int]) -> bool:
    x, y = figures(heat, box, image_hw).peak_xy
    return bool(box[0] <= x <= box[2] and box[1] <= y <= box[3])


def placement(heat: np.ndarray, box: np.ndarray, image_hw: tuple[int, int]) -> dict[str, float]:
    """The two measures that need no re-run: mass in the box (EBPG) and the pointing game."""
    return {"ebpg": figures(heat, box, image_hw).mass_in_box, "pointing": float(pointing_hit(heat, box, image_hw))}


def random_map(image_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The baseline: a map of uniform noise (no idea where the object is)."""
    return rng.random(image_hw, dtype=np.float32)


def measure(
    image: np.ndarray,
    detections: Detections,
    maps_by_method: dict[str, Sequence[np.ndarray]],
    scorer: Scorer,
    rng: np.random.Generator,
    *,
    fractions: Sequence[float] = FRACTIONS,
    with_random: bool = True,
) -> list[dict[str, dict[str, float]]]:
    """Per detection: {method: {metric: value}} for every map and (with_random) a random map."""
    image_hw = image.shape[:2]
    removed = blurred(image)
    (fully_removed,) = scorer([removed])  # shared end point: all pixels removed (deletion), none revealed (insertion)
    out = []
    for j in range(len(detections)):
        box, conf = detections.xyxy[j], float(detections.confidence[j])
        floor = surviving_confidence(detections, j, fully_removed)
        maps = {method: maps[j] for method, maps in maps_by_method.items()}
        if with_random:
            maps["random"] = random_map(image_hw, rng)
        edits = (
            edited
            for heat in maps.values()
            for edited in edited_images(image, removed, pixel_order(heat, image_hw, rng), fractions[1:-1])
        )
        found = in_chunks(edits, scorer, chunk_size(image))
        per_method: dict[str, dict[str, float]] = {}
        inner = len(fractions) - 2
        for m, (method, heat) in enumerate(maps.items()):
            scores = [surviving_confidence(detections, j, d) for d in found[m * 2 * inner : (m + 1) * 2 * inner]]
            per_method[method] = {
                "deletion_auc": auc([conf, *scores[:inner], floor], fractions),
                "insertion_auc": auc([floor, *scores[inner:], conf], fractions),
                **placement(heat, box, image_hw),
            }
        out.append(per_method)
    return out


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> Interval:
    """Mean and 95% percentile-bootstrap interval of the mean."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    means = v[np.random.default_rng(seed).integers(0, v.size, (resamples, v.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(v.mean()), float(low), float(high), int(v.size))


@dataclass
class MetricTable:
    """Per-detection values per method and metric, gathered over a run."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    def add(self, per_detection: Sequence[dict[str, dict[str, float]]]) -> None:
        for per_method in per_detection:
            for method, figures_ in per_method.items():
                for metric, value in figures_.items():
                    self.values[method][metric].append(value)

    def merge(self, other: MetricTable) -> None:
        for method, metrics in other.values.items():
            for metric, values in metrics.items():
                self.values[method][metric].extend(values)

    def interval(self, method: str, metric: str) -> Interval:
        return bootstrap(self.values.get(method, {}).get(metric, []))

    def rows(self) -> list[dict[str, float | int | str | list[float]]]:
        """One row per method (random last): n, and per metric its mean and [low, high] 95% interval."""
        methods = [*(m for m in self.values if m != "random"), *(["random"] if "random" in self.values else [])]
        rows = []
        for method in methods:
            row: dict[str, float | int | str | list[float]] = {"method": method}
            row["n"] = max(len(v) for v in self.values[method].values())
            for metric in (m for m in METRICS if m in self.values[method]):
                ci = self.interval(method, metric)
                row[metric] = round(ci.mean, 4)
                row[f"{metric}_ci95"] = [round(ci.low, 4), round(ci.high, 4)]
            rows.append(row)
        return rows
