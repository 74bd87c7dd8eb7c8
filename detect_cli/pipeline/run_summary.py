"""A run's totals, built as results stream past, so memory stays flat however long the run."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.results import STAGES, ImageResult
from detect_cli.pipeline.video_stats import VideoStats

if TYPE_CHECKING:
    from detect_cli.pipeline.line_crossings import Line
    from detect_cli.pipeline.zones import ZoneCounter


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
    stopped: str | None = None  # why the run ended early without being interrupted (--show's window closed)
    resumed: int = 0  # inputs skipped because an earlier run already did them (--resume)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    unsaved: list[tuple[str, str]] = field(default_factory=list)  # (source, warning): outputs not written (exit 3)
    # Per-image model time (preprocess + inference + postprocess), kept only when asked (compare's
    # percentiles): 4 bytes an image.
    latencies_ms: array | None = None
    videos: dict[str, VideoStats] = field(default_factory=dict)  # per video or stream: totals over its frames
    count_line: Line | None = None  # --count-line: each video counts its tracks' crossings
    caps: Capped = field(default_factory=Capped)  # how --max-det and --max-det-image bore on the images
    zones: dict[str, ZoneCounter] = field(default_factory=dict)  # --zone: per sequence (pipeline/spatial.py)
    heatmaps: list[dict[str, Any]] = field(default_factory=list)  # --heatmap: the files written

    def add(self, result: ImageResult) -> None:
        self.warnings.extend((result.source, w) for w in result.all_warnings())
        self.unsaved.extend((result.source, f"{kind.value}: {why}") for kind, why in result.unsaved)
        if result.frame is not None:
            self.videos.setdefault(result.source, VideoStats(line=self.count_line)).add(result)
        if not result.ok:
            self.failed += 1
            self.failures.append((result.source, result.error or "error"))
            return
        self.images += 1
        self.detections += len(result.detections)
        self.caps += result.detections.metadata.get(CAPS, Capped())
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
        self.unsaved += other.unsaved
        self.caps += other.caps

    def latency(self) -> dict[str, float]:
        """Model time per image (needs `latencies_ms`): mean, p50, p95 and images per second."""
        if not self.images or not self.latencies_ms:
            return {}
        total = np.asarray(self.latencies_ms, dtype=np.float64)
        return {
            "total_mean": float(total.mean()),
            "total_p50": float(np.percentile(total, 50)),
            "total_p95": float(np.percentile(total, 95)),
            "images_per_s": 1000.0 / float(total.mean()),
        }

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
            **({"stopped": self.stopped} if self.stopped else {}),
            "skipped_already_done": self.resumed,
            "failures": [{"source": s, "error": e} for s, e in self.failures],
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "warnings": [{"source": s, "warning": w} for s, w in self.warnings],
            **({"videos": {s: v.as_dict() for s, v in self.videos.items()}} if self.videos else {}),
            **({"caps": self.caps.as_dict()} if self.caps.bit else {}),  # only when a cap was reached
            **({"zones": {s: z.as_dict() for s, z in self.zones.items()}} if self.zones else {}),
            **({"heatmaps": self.heatmaps} if self.heatmaps else {}),
        }
