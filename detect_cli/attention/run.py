"""Explain one image: detections, a map per detection for each method, the figures per map and,
optionally, the deletion test. Usable from Python; the `attention` command renders and saves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect_cli.attention.capture import Explanation, explain, explain_batch, layercam
from detect_cli.attention.faithfulness import DeletionScores, deletion_test
from detect_cli.attention.maps import figures
from detect_cli.detections import Detections
from detect_cli.models import Detector, PredictOptions
from detect_cli.results import Timing

METHODS = ("attention", "layercam", "both")


@dataclass
class ImageAttention:
    detections: Detections
    names: dict[int, str]
    layer: str
    image_maps: dict[str, np.ndarray]  # method -> whole-image map
    maps: dict[str, list[np.ndarray]]  # method -> one map per detection
    deletion: list[dict[str, float]] = field(default_factory=list)
    image_hw: tuple[int, int] | None = None  # the image's size, when the maps are smaller (maps.map_size)

    def record(self) -> list[dict[str, Any]]:
        """Per detection: box, class, peak and share of mass in the box per method, deletion drops."""
        out = []
        for j, (box, conf, cls) in enumerate(self.detections):
            item: dict[str, Any] = {
                "class_id": cls, "class_name": self.names.get(cls, str(cls)), "confidence": round(conf, 4),
                "box": [round(float(v), 2) for v in box],
            }  # fmt: skip
            for method, maps in self.maps.items():
                fig = figures(maps[j], box, self.image_hw)
                item[method] = {"peak_xy": [round(v, 1) for v in fig.peak_xy], "mass_in_box": round(fig.mass_in_box, 4)}
            if self.deletion:
                item["deletion_drop"] = self.deletion[j]
            out.append(item)
        return out


def explain_image(
    detector: Detector,
    image: np.ndarray,
    options: PredictOptions,
    *,
    method: str = "attention",
    layer: int | None = None,
    check: DeletionScores | None = None,
    rng: np.random.Generator | None = None,
) -> ImageAttention:
    explanation = explain(detector, image, options, layer)
    dets = explanation.detections
    maps: dict[str, list[np.ndarray]] = {}
    image_maps: dict[str, np.ndarray] = {}
    if method in {"attention", "both"}:
        maps["attention"], image_maps["attention"] = explanation.maps, explanation.image_map
    if method in {"layercam", "both"}:
        image_maps["layercam"] = layercam(detector, image, options, topk=max(1, min(16, len(dets))))
        # Ultralytics' LayerCAM cannot target one prediction; restricted to a detection's class with
        # nothing above threshold, it explains that class's strongest prediction (this detection, when
        # it is the strongest of its class).
        per_class = {
            c: layercam(detector, image, _only_best(options), [c], topk=1) for c in set(dets.class_id.tolist())
        }
        maps["layercam"] = [per_class[int(c)] for c in dets.class_id]
    result = ImageAttention(dets, detector.names, explanation.layer, image_maps, maps, image_hw=image.shape[:2])
    if check is not None and len(dets):
        result.deletion = deletion_test(detector, image, dets, maps, options, check, rng or np.random.default_rng(0))
    return result


def explain_images(
    detector: Detector, images: list[np.ndarray], options: PredictOptions
) -> list[tuple[Detections, Timing, ImageAttention | Exception]]:
    """`detect --attention`: one hooked prediction of a batch gives, per image, the detections and
    timing of a plain prediction and the attention maps (or the exception that stopped them)."""
    return [
        (detections, timing, found if isinstance(found, Exception) else _attention_only(detector, image, found))
        for image, (detections, timing, found) in zip(images, explain_batch(detector, images, options), strict=True)
    ]


def _attention_only(detector: Detector, image: np.ndarray, explanation: Explanation) -> ImageAttention:
    return ImageAttention(explanation.detections, detector.names, explanation.layer,
                          {"attention": explanation.image_map}, {"attention": explanation.maps},
                          image_hw=image.shape[:2])  # fmt: skip


def _only_best(options: PredictOptions) -> PredictOptions:
    from dataclasses import replace

    return replace(options, conf=1.01)  # nothing passes: LayerCAM falls back to the single best prediction
