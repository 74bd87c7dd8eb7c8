"""Explain one image: detections, a map per detection for each method, the figures per map and,
optionally, the faithfulness measures (`metrics`). Usable from Python; the `attention` command
renders and saves it.

Methods: attention (the model's own: RT-DETR decoder cross-attention, or with attention_map
"encoder" its AIFI encoder self-attention; YOLO26 C2PSA), gradcam and layercam-det (gradients of
the detection's own logit), layercam (Ultralytics' per-class LayerCAM, what users have today),
drise (black-box random masks; the only one that works on exports); both = attention + layercam,
all = every map of the model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from detect_cli.attention.capture import Explanation, explain, explain_batch, layercam
from detect_cli.attention.drise import MASKS, drise_maps
from detect_cli.attention.faithfulness import PROBE_CONF
from detect_cli.attention.gradients import GRADIENT_METHODS, targeted_cams
from detect_cli.attention.maps import figures
from detect_cli.attention.metrics import MetricTable, measure
from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import Timing
from detect_cli.models.detector import Detector, PredictOptions

METHODS = ("attention", "gradcam", "layercam-det", "layercam", "drise", "both", "all")
ATTENTION_MAPS = ("decoder", "encoder")


def check_method(method: str, attention_map: str = "decoder") -> None:
    """A method and a map this package makes (ConfigError otherwise), checked before any model loads."""
    if method not in METHODS:
        raise ConfigError(f"--method {method}: choose one of {', '.join(METHODS)}")
    if attention_map not in ATTENTION_MAPS:
        raise ConfigError(f"--map {attention_map}: choose one of {', '.join(ATTENTION_MAPS)}")


def map_names(method: str, family: str, attention_map: str = "decoder") -> list[str]:
    """The maps a method makes (keys of `ImageAttention.maps`); ConfigError for a bad combination."""
    check_method(method, attention_map)
    if attention_map == "encoder" and family != "rtdetr":
        raise ConfigError(
            "--map encoder is RT-DETR's AIFI encoder attention", "YOLO26 has one attention map: leave --map out"
        )
    own = "encoder" if attention_map == "encoder" else "attention"
    if method == "attention":
        return [own]
    if method == "both":
        return [own, "layercam"]
    if method == "all":
        return ["attention", *(["encoder"] if family == "rtdetr" else []), *GRADIENT_METHODS, "layercam", "drise"]
    return [method]


@dataclass
class ImageAttention:
    detections: Detections
    names: dict[int, str]
    layer: str
    image_maps: dict[str, np.ndarray]  # method -> whole-image map
    maps: dict[str, list[np.ndarray]]  # method -> one map per detection
    metrics: list[dict[str, dict[str, float]]] = field(default_factory=list)  # per detection: method -> metric
    image_hw: tuple[int, int] | None = None  # the image's size, when the maps are smaller (maps.map_size)

    def record(self) -> list[dict[str, Any]]:
        """Per detection: box, class, and per method the peak, the share of mass in the box and
        whether the peak is in the box; with the check, the faithfulness measures per method."""
        out = []
        for j, (box, conf, cls) in enumerate(self.detections):
            item: dict[str, Any] = {
                "class_id": cls,
                "class_name": self.names.get(cls, str(cls)),
                "confidence": round(conf, 4),
                "box": [round(float(v), 2) for v in box],
            }
            for method, maps in self.maps.items():
                fig = figures(maps[j], box, self.image_hw)
                x, y = fig.peak_xy
                item[method] = {
                    "peak_xy": [round(x, 1), round(y, 1)],
                    "mass_in_box": round(fig.mass_in_box, 4),
                    "peak_in_box": bool(box[0] <= x <= box[2] and box[1] <= y <= box[3]),
                }
            if self.metrics:
                item["metrics"] = {m: {k: round(v, 4) for k, v in f.items()} for m, f in self.metrics[j].items()}
            out.append(item)
        return out


def probe(detector: Detector, options: PredictOptions):
    """Predictions of edited images at a low threshold: a weakened detection is still found."""
    low = replace(options, conf=PROBE_CONF)
    return lambda images: [d for d, _ in detector.predict(images, low)]


def explain_image(
    detector: Detector,
    image: np.ndarray,
    options: PredictOptions,
    *,
    method: str = "attention",
    layer: int | None = None,
    attention_map: str = "decoder",
    masks: int = MASKS,
    check: MetricTable | None = None,
    rng: np.random.Generator | None = None,
) -> ImageAttention:
    names = map_names(method, detector.ref.family, attention_map)
    maps: dict[str, list[np.ndarray]] = {}
    if names == ["drise"]:  # black box: no hooks, so exports work too
        dets, label = detector.predict([image], options)[0][0], f"D-RISE, {masks} masks"
    else:
        explanation = explain(detector, image, options, layer)
        dets, label = explanation.detections, explanation.layer
        _white_box_maps(detector, image, options, explanation, names, maps)
    if "drise" in names:
        maps["drise"] = drise_maps(probe(detector, options), image, dets, np.random.default_rng(0), masks)
    maps = {name: maps[name] for name in names}
    image_maps = {name: np.max(found, axis=0) for name, found in maps.items() if found}
    if "layercam" in maps:  # Ultralytics' own whole-image map, as its `_cam.jpg` shows it
        image_maps["layercam"] = layercam(detector, image, options, topk=max(1, min(16, len(dets))))
    if "attention" in maps and not dets:
        image_maps["attention"] = explanation.image_map
    result = ImageAttention(dets, detector.names, label, image_maps, maps, image_hw=image.shape[:2])
    if check is not None and len(dets):
        result.metrics = measure(image, dets, maps, probe(detector, options), rng or np.random.default_rng(0))
        check.add(result.metrics)
    return result


def _white_box_maps(
    detector: Detector,
    image: np.ndarray,
    options: PredictOptions,
    explanation: Explanation,
    names: list[str],
    maps: dict[str, list[np.ndarray]],
) -> None:
    dets = explanation.detections
    if "attention" in names:
        maps["attention"] = explanation.maps
    if "encoder" in names:
        maps["encoder"] = explanation.extra.get("encoder_maps", [])
        if len(maps["encoder"]) != len(dets):
            raise ConfigError("this RT-DETR model has no AIFI encoder to read --map encoder from")
    if set(GRADIENT_METHODS) & set(names):
        predictions = explanation.extra.get("anchors", explanation.extra.get("queries", []))
        maps.update(targeted_cams(detector, image, options, predictions, dets.class_id.tolist()))
    if "layercam" in names:
        maps["layercam"] = per_class_layercam(detector, image, options, dets)


def per_class_layercam(
    detector: Detector, image: np.ndarray, options: PredictOptions, dets: Detections
) -> list[np.ndarray]:
    """Ultralytics' LayerCAM per detection, as near as it goes: it cannot target one prediction, so
    restricted to the detection's class with nothing above threshold, it explains that class's
    strongest prediction (this detection only when it is the strongest of its class)."""
    per_class = {c: layercam(detector, image, _only_best(options), [c], topk=1) for c in set(dets.class_id.tolist())}
    return [per_class[int(c)] for c in dets.class_id]


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
    return ImageAttention(
        explanation.detections,
        detector.names,
        explanation.layer,
        {"attention": explanation.image_map},
        {"attention": explanation.maps},
        image_hw=image.shape[:2],
    )


def _only_best(options: PredictOptions) -> PredictOptions:
    return replace(options, conf=1.01)  # nothing passes: LayerCAM falls back to the single best prediction
