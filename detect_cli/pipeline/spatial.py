"""Where objects are, per sequence: `--zone` counts and `--heatmap` maps, as a stage on the result
stream (after tracking, before saving and the sinks), like `tracking.track_stream`.

Each sequence (a video, a stream, or the stills of one folder in name order: `sequence_key`) gets
its own `ZoneCounter` and `HeatmapAccumulator`, so zones given in percent are placed on each
sequence's first frame. Each result comes out with its frame's occupancy in
`Detections.metadata[OCCUPANCY]` (zone -> class -> boxes inside), which the records carry and the
annotated video draws. When the run tracks, boxes in no track are left out of both (an NMS-free
head's second box on one object, or a flicker the tracker did not confirm).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from detect_cli.core.choices import ZONE_ANCHORS
from detect_cli.core.errors import ConfigError
from detect_cli.core.polygons import OCCUPANCY, Zone
from detect_cli.core.results import ImageResult, sequence_key
from detect_cli.outputs.heatmaps import SavedHeatmap, heatmap_picture, save_heatmap
from detect_cli.pipeline.heatmap import ALL, HeatmapAccumulator
from detect_cli.pipeline.zones import ZoneCounter


@dataclass
class SpatialStage:
    """The zones and heatmaps of a run. `stream(results)` passes results on with their occupancy;
    `counters` and `heatmaps` (sequence -> its state) are read for the summary and the files."""

    zones: list[Zone] = field(default_factory=list)
    anchor: str = "bottom-center"
    heatmap: tuple[str, ...] | None = None  # the maps to keep (heatmap.ALL, EACH, class names); None: none
    counters: dict[str, ZoneCounter] = field(default_factory=dict)
    heatmaps: dict[str, HeatmapAccumulator] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # sequence -> the name its files are saved under
    _positions: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.anchor not in ZONE_ANCHORS:
            raise ConfigError(f"--zone-anchor {self.anchor}: choose one of {', '.join(ZONE_ANCHORS)}")

    def stream(self, results: Iterable[ImageResult]) -> Iterator[ImageResult]:
        for result in results:
            yield self.observe(result)

    def observe(self, result: ImageResult) -> ImageResult:
        """Count one frame (or still) into its sequence; the result with its occupancy when zones are set.
        Also how a resumed run replays the frames already written (`--resume`)."""
        if not result.ok or result.width is None or result.height is None:
            return result
        key = sequence_key(result)
        position = self._positions.get(key, -1) + 1
        self._positions[key] = position
        frame = result.frame if result.frame is not None else position  # stills: their place in the folder
        detections = result.detections
        counted = np.ones(len(detections), bool) if detections.track_id is None else detections.track_id >= 0
        names = [result.class_name(c) for c in detections.class_id.tolist()]
        self.names.setdefault(key, result.name or result.source)
        if self.heatmap is not None:
            heat = self.heatmaps.get(key)
            if heat is None:
                heat = self.heatmaps[key] = HeatmapAccumulator(result.width, result.height)
            heat.add(detections.xyxy[counted], [n for n, k in zip(names, counted) if k], result.image)
        if not self.zones:
            return result
        counter = self.counters.get(key)
        if counter is None:
            counter = self.counters[key] = ZoneCounter(list(self.zones), self.anchor)
        occupancy = counter.update(
            detections.xyxy, names, detections.track_id, frame, result.time_s, (result.width, result.height)
        )
        return replace(result, detections=detections.with_metadata(**{OCCUPANCY: occupancy}))

    def zones_of(self, result: ImageResult) -> list[Zone]:
        """The zones of the result's sequence, in its pixels (after `observe`)."""
        counter = self.counters.get(sequence_key(result))
        return counter.zones if counter is not None else []

    def heatmap_classes(self) -> tuple[str, ...]:
        return self.heatmap or (ALL,)

    def write_heatmaps(self, folder: Path) -> tuple[list[SavedHeatmap], list[tuple[str, str]]]:
        """Every sequence's maps (`heatmap_classes()`) as files under `folder`: those written, and
        (sequence, why not) of those that could not be: one map that fails loses neither the others nor
        the run's other outputs."""
        saved, failed = [], []
        for key, heat in self.heatmaps.items():
            for label, counts in heat.maps(self.heatmap_classes()).items():
                try:
                    picture = heatmap_picture(counts, heat.background, heat.width, heat.height, label, heat.cell_px)
                    png, npy = save_heatmap(folder, self.names.get(key, key), label, counts, picture)
                except OSError as exc:
                    failed.append((key, str(exc.strerror or exc)))
                    continue
                except Exception as exc:  # a picture OpenCV or NumPy cannot draw: this map only
                    failed.append((key, f"cannot draw the {label} map ({type(exc).__name__}: {exc})"))
                    continue
                saved.append(SavedHeatmap(key, label, png, npy, heat.cell_px, float(counts.max(initial=0))))
        return saved, failed
