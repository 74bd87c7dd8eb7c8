"""The accuracy gate an INT8 model must pass before any run uses it.

Not the same-boxes gate of an FP32 export (a quantized network is not expected to give the same
boxes): on held-out images, never the calibration ones, the INT8 model's boxes must agree with the
FP32 model's (one-to-one matches of the same class at IoU 0.5; each one's boxes at conf 0.25 found
among the other's at 0.20, so a score shifted across the threshold is no loss: F1 >= 0.97), no class
may lose more than 5 points of the FP32 boxes it found, and where the images have labels its
mAP50-95 may drop by at most 0.01.

The class rule judges only what a count can tell: a class with fewer than 20 FP32 boxes on the
held-out images is not judged on its own (the figures name it), and a class is refused only when its
loss is above 5% beyond chance (the one-sided 95% Wilson lower bound of its loss rate is over 5%).
4 boxes lost of 56 (7%) is what a model that keeps 98.6% of every class on 300 other scenes showed
on 75 held-out images; 10 of 56 (18%) is refused. It must also be worth it: at least 5% faster than FP32 here.
The figures go into the cache decision and the run table, passed or not.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from detect_cli.core.coco_map import mean_map
from detect_cli.core.detections import Detections
from detect_cli.core.matching import match
from detect_cli.models.detector import Detector, PredictOptions

GATE = {
    "iou": 0.5,
    "conf": 0.25,
    "margin": 0.05,  # a box at conf must be found in the other's at conf - margin: a shifted score is no loss
    "min_f1": 0.97,
    "max_class_drop": 0.05,  # of the FP32 boxes of one class, the share INT8 may miss
    "min_class_boxes": 20,  # classes with fewer FP32 boxes are counted in the F1, not judged on their own
    "max_map_drop": 0.01,  # mAP50-95, where the held-out images have labels
    "min_boxes": 20,  # fewer FP32 boxes on the held-out images prove nothing
    "min_gain": 1.05,  # INT8 must be at least this much faster than FP32 here
}
CLASS_Z = 1.645  # one-sided 95%: a class's loss must be above max_class_drop beyond chance
MAP_CONF = 0.001  # mAP is computed over the whole PR curve
MIN_LABELLED = 10  # held-out images with labels needed for the mAP part of the gate


@dataclass(frozen=True)
class Int8Check:
    images: int
    boxes: int  # FP32's boxes at GATE's conf on the held-out images
    f1: float
    worst_class: str | None  # the class INT8 lost most of (of those with min_class_boxes)
    worst_class_kept: float  # the share of that class's FP32 boxes INT8 found
    map_fp32: float | None  # mAP50-95 on the labelled held-out images, or None without labels
    map_int8: float | None
    ms_fp32: float  # median per image, end to end (letterbox, network, decoding), alternated
    ms_int8: float
    worst_class_boxes: int = 0  # FP32's boxes of worst_class
    unjudged: tuple[str, ...] = ()  # classes with too few FP32 boxes to be judged on their own

    @property
    def worst_class_lost_beyond_chance(self) -> bool:
        """The worst class's loss is over max_class_drop at one-sided 95% (Wilson lower bound)."""
        if self.worst_class is None or self.worst_class_boxes <= 0:
            return False
        return wilson_lower(1 - self.worst_class_kept, self.worst_class_boxes) > GATE["max_class_drop"]

    @property
    def speedup(self) -> float:
        return self.ms_fp32 / max(self.ms_int8, 1e-6)

    @property
    def map_change(self) -> float | None:
        return None if self.map_fp32 is None or self.map_int8 is None else self.map_int8 - self.map_fp32

    def failures(self) -> list[str]:
        """Why the gate refuses this model (empty: it passes)."""
        why = []
        if self.boxes < GATE["min_boxes"]:
            need = GATE["min_boxes"]
            return [f"FP32 finds {self.boxes} boxes on the held-out images, too few to judge (needs {need})"]
        if self.f1 < GATE["min_f1"]:
            why.append(f"agreement F1 {self.f1:.3f} < {GATE['min_f1']}")
        if self.worst_class_lost_beyond_chance:
            total = self.worst_class_boxes
            lost = round((1 - self.worst_class_kept) * total)
            why.append(f"{self.worst_class} loses {1 - self.worst_class_kept:.0%} of its boxes ({lost} of {total})")
        if self.map_change is not None and -self.map_change > GATE["max_map_drop"]:
            why.append(f"mAP50-95 {self.map_change:+.3f} (at most -{GATE['max_map_drop']})")
        if self.speedup < GATE["min_gain"]:
            why.append(f"not faster here ({self.speedup:.2f}x fp32)")
        return why

    @property
    def passed(self) -> bool:
        return not self.failures()

    def summary(self) -> str:
        """For the run table: `agreement F1 0.985, mAP50-95 -0.004, 1.6x fp32 here`."""
        parts = [f"agreement F1 {self.f1:.3f}"]
        if self.map_change is not None:
            parts.append(f"mAP50-95 {self.map_change:+.3f}")
        parts.append(f"{self.speedup:.2f}x fp32 here")
        if self.unjudged:
            parts.append(f"not judged per class (under {GATE['min_class_boxes']} boxes): {', '.join(self.unjudged)}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()},
            "speedup": round(self.speedup, 3),
            "map_change": None if self.map_change is None else round(self.map_change, 4),
            "passed": self.passed,
            "failures": self.failures(),
            "gate": GATE,
        }


def check_int8(
    fp32: Detector,
    int8: Detector,
    held_out: list,
    options: PredictOptions,
    truth: list[Detections | None] | None = None,
) -> Int8Check:
    """Score `int8` against `fp32` on `held_out` images (and on those of them with `truth` labels:
    mAP50-95, when at least MIN_LABELLED are labelled)."""
    low = GATE["conf"] - GATE["margin"]
    floor = PredictOptions(conf=MAP_CONF if truth is not None else low, imgsz=options.imgsz)
    for detector in (fp32, int8):
        detector.predict(held_out[:1], floor)  # warm-up
    found = {"a": 0, "b": 0, "count_a": 0, "count_b": 0}
    per_class: dict[int, list[int]] = {}
    scored: dict[str, list] = {"fp32": [], "int8": []}
    for k, image in enumerate(held_out):
        ((a, _),) = fp32.predict([image], floor)
        ((b, _),) = int8.predict([image], floor)
        high_a, high_b = a[a.confidence >= GATE["conf"]], b[b.confidence >= GATE["conf"]]
        pairs = match(high_a, b[b.confidence >= low], GATE["iou"])  # FP32's boxes that INT8 finds
        back = match(high_b, a[a.confidence >= low], GATE["iou"])  # and the other way round
        found["a"], found["b"] = found["a"] + len(pairs), found["b"] + len(back)
        found["count_a"], found["count_b"] = found["count_a"] + len(high_a), found["count_b"] + len(high_b)
        for cls in high_a.class_id:
            per_class.setdefault(int(cls), [0, 0])[0] += 1
        for cls in high_a.class_id[pairs.a]:
            per_class[int(cls)][1] += 1
        if truth is not None and truth[k] is not None:
            scored["fp32"].append((truth[k], a, image.shape[:2]))
            scored["int8"].append((truth[k], b, image.shape[:2]))
    worst, kept, worst_boxes, unjudged = _worst_class(per_class, fp32.names)
    maps = {"fp32": None, "int8": None}
    if len(scored["fp32"]) >= MIN_LABELLED:
        categories = sorted(fp32.names)
        maps = {name: mean_map(pairs, categories)[1] for name, pairs in scored.items()}
    ms_fp32, ms_int8 = _time_alternated(fp32, int8, held_out, options)
    total = found["count_a"] + found["count_b"]
    f1 = (found["a"] + found["b"]) / total if total else 1.0  # each side's boxes found by the other, over all boxes
    return Int8Check(
        images=len(held_out),
        boxes=found["count_a"],
        f1=f1,
        worst_class=worst,
        worst_class_kept=kept,
        map_fp32=maps["fp32"],
        map_int8=maps["int8"],
        ms_fp32=ms_fp32,
        ms_int8=ms_int8,
        worst_class_boxes=worst_boxes,
        unjudged=unjudged,
    )


def wilson_lower(rate: float, n: int, z: float = CLASS_Z) -> float:
    """The one-sided lower confidence bound of a rate seen on n trials (Wilson score interval)."""
    if n <= 0:
        return 0.0
    centre = rate + z * z / (2 * n)
    spread = z * (rate * (1 - rate) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, (centre - spread) / (1 + z * z / n))


def _worst_class(
    per_class: dict[int, list[int]], names: dict[int, str]
) -> tuple[str | None, float, int, tuple[str, ...]]:
    """The judged class INT8 lost the largest share of (its name, share kept, FP32 boxes), and the
    classes with too few boxes to be judged on their own."""
    enough = GATE["min_class_boxes"]
    judged = {c: found / total for c, (total, found) in per_class.items() if total >= enough}
    unjudged = tuple(sorted(names.get(c, str(c)) for c, (total, _) in per_class.items() if total < enough))
    if not judged:
        return None, 1.0, 0, unjudged
    cls = min(judged, key=judged.__getitem__)
    return names.get(cls, str(cls)), judged[cls], per_class[cls][0], unjudged


def _time_alternated(fp32: Detector, int8: Detector, images: list, options: PredictOptions) -> tuple[float, float]:
    """Median ms per image of each, end to end at the run's options, in alternation (the load of a
    shared machine falls on both)."""
    spent: dict[str, list[float]] = {"fp32": [], "int8": []}
    for image in images:
        for name, detector in (("fp32", fp32), ("int8", int8)):
            start = time.perf_counter()
            detector.predict([image], options)
            spent[name].append((time.perf_counter() - start) * 1e3)
    return statistics.median(spent["fp32"]), statistics.median(spent["int8"])
