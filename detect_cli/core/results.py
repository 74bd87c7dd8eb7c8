"""Per-image results, the run summary, and the pure functions that flatten them into records.

Every sink writes the numbers that `image_record` produces, so all formats agree to the digit.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.outputs.sinks import SCHEMA_VERSION, Layout
from detect_cli.pipeline.video_stats import VideoStats

if TYPE_CHECKING:
    from detect_cli.pipeline.line_crossings import Line

__all__ = ["IMAGES", "SCHEMA_VERSION", "ImageResult", "RunSummary", "csv_rows", "image_record"]
BOX_DECIMALS = 2
CONF_DECIMALS = 4
STAGES = ("read", "preprocess", "inference", "postprocess")


@dataclass(frozen=True)
class Timing:
    """Milliseconds spent on one image in each stage."""

    read: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {s: round(getattr(self, s), 3) for s in STAGES}


@dataclass(frozen=True)
class ImageResult:
    """What one input produced: detections, or an error message."""

    source: str
    index: int
    detections: Detections = field(default_factory=Detections.empty)
    names: dict[int, str] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    timing: Timing = field(default_factory=Timing)
    error: str | None = None
    name: str = ""  # relative name for saved files (mirrors the input's place under its folder)
    image: np.ndarray | None = field(default=None, repr=False, compare=False)  # decoded pixels, for annotators
    warnings: tuple[str, ...] = ()  # the input was processed, but something about it needs saying
    frame: int | None = None  # a video's frame number (0-based, in the file); None for a still image
    time_s: float | None = None  # that frame's time in the video (for a stream: since it was opened)

    @property
    def ok(self) -> bool:
        return self.error is None

    def class_name(self, class_id: int) -> str:
        return self.names.get(class_id, str(class_id))


def box_records(result: ImageResult) -> list[dict[str, Any]]:
    records = [
        {
            "class_id": cls,
            "class_name": result.class_name(cls),
            "confidence": round(conf, CONF_DECIMALS),
            "box": [round(float(v), BOX_DECIMALS) for v in box],
        }
        for box, conf, cls in result.detections
    ]
    tiles = getattr(result.detections, "tile", None)  # --slice-tiles: the window that found each box
    if tiles is not None:
        for record, tile in zip(records, tiles.tolist()):
            record["tile"] = None if tile[0] < 0 else tile
    tracks = result.detections.track_id
    if tracks is not None:  # only with --track: null for a box in no confirmed track
        for record, track in zip(records, tracks.tolist()):
            record["track_id"] = track if track >= 0 else None
    return records


def image_record(result: ImageResult) -> dict[str, Any]:
    """The JSON/JSONL record of one image (an error record when the input failed)."""
    record = {
        "index": result.index,
        "source": result.source,
        "status": "ok" if result.ok else "error",
        "error": result.error,
        "width": result.width,
        "height": result.height,
        "detections": box_records(result),
        "speed_ms": result.timing.as_dict(),
        "warnings": list(result.warnings),
    }
    if result.frame is not None:  # video frames only: a still image's record is unchanged
        record["frame"] = result.frame
        record["time_s"] = None if result.time_s is None else round(result.time_s, 3)
    return record


CSV_COLUMNS = (
    "index", "source", "status", "error", "width", "height",
    "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2", "frame", "time_s", "track_id",
)  # fmt: skip


def csv_rows(result: ImageResult) -> list[dict[str, Any]]:
    return record_rows(image_record(result))


def record_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per box; an image without boxes (or with an error) still gets one row."""
    base = {k: record.get(k) for k in ("index", "source", "status", "error", "width", "height", "frame", "time_s")}
    if not record["detections"]:
        return [base]
    return [
        {
            **base,
            **{k: d[k] for k in ("class_id", "class_name", "confidence")},
            **dict(zip(("x1", "y1", "x2", "y2"), d["box"])),
            "track_id": d.get("track_id"),
        }
        for d in record["detections"]
    ]


# detect's records: one per image in JSON/JSONL, one CSV row per box, and COCO
IMAGES = Layout("images", CSV_COLUMNS, image_record, record_rows, coco=True)


@dataclass
class RunSummary:
    """Totals for a whole run, built incrementally so memory stays flat."""

    images: int = 0
    failed: int = 0
    detections: int = 0
    class_counts: Counter[str] = field(default_factory=Counter)
    stage_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False
    resumed: int = 0  # inputs skipped because an earlier run already did them (--resume)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    # Per-image model time (preprocess + inference + postprocess), kept only when asked (compare's
    # percentiles): 4 bytes an image.
    latencies_ms: array | None = None
    videos: dict[str, VideoStats] = field(default_factory=dict)  # per video or stream: totals over its frames
    count_line: Line | None = None  # --count-line: each video counts its tracks' crossings

    def add(self, result: ImageResult) -> None:
        self.warnings.extend((result.source, w) for w in result.warnings)
        if result.frame is not None:
            self.videos.setdefault(result.source, VideoStats(line=self.count_line)).add(result)
        if not result.ok:
            self.failed += 1
            self.failures.append((result.source, result.error or "error"))
            return
        self.images += 1
        self.detections += len(result.detections)
        for cls, n in result.detections.counts().items():
            self.class_counts[result.class_name(cls)] += n
        for stage in STAGES:
            self.stage_ms[stage] += getattr(result.timing, stage)
        if self.latencies_ms is not None:
            t = result.timing
            self.latencies_ms.append(t.preprocess + t.inference + t.postprocess)

    def merge(self, other: RunSummary) -> None:
        """Fold in a summary of other images (e.g. a batch done on a Ray worker)."""
        self.images += other.images
        self.failed += other.failed
        self.detections += other.detections
        self.class_counts.update(other.class_counts)
        for stage, ms in other.stage_ms.items():
            self.stage_ms[stage] += ms
        self.failures += other.failures
        self.skipped += other.skipped
        self.warnings += other.warnings

    def latency(self) -> dict[str, float]:
        """Model time per image (needs `latencies_ms`): mean, p50, p95 and images per second."""
        if not self.images or not self.latencies_ms:
            return {}
        total = np.asarray(self.latencies_ms, dtype=np.float64)
        return {"total_mean": float(total.mean()), "total_p50": float(np.percentile(total, 50)),
                "total_p95": float(np.percentile(total, 95)), "images_per_s": 1000.0 / float(total.mean())}  # fmt: skip

    def ms_per_image(self) -> dict[str, float]:
        return {s: (v / self.images if self.images else 0.0) for s, v in self.stage_ms.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "failed": self.failed,
            "detections": self.detections,
            "class_counts": dict(sorted(self.class_counts.items())),
            "ms_per_image": {k: round(v, 3) for k, v in self.ms_per_image().items()},
            "wall_s": round(self.wall_s, 3),
            "interrupted": self.interrupted,
            "skipped_already_done": self.resumed,
            "failures": [{"source": s, "error": e} for s, e in self.failures],
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "warnings": [{"source": s, "warning": w} for s, w in self.warnings],
            **({"videos": {s: v.as_dict() for s, v in self.videos.items()}} if self.videos else {}),
        }
