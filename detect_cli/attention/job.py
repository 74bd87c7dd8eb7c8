"""A whole attention run: one record per input, in input order. An input that cannot be read or
explained becomes an error record (its message, the shape of detect's records) and the run goes
on, unless the failure is not the input's (`failures.FailureWatch`: then `ModelFailed` stops it),
or says what it is (an export, a model with no attention block: `ConfigError`). Usable from
Python; the `attention` command renders the records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.attention.drise import MASKS
from detect_cli.attention.metrics import MetricTable
from detect_cli.attention.overlays import overlay_folder, write_overlays
from detect_cli.attention.run import explain_image, map_names
from detect_cli.attention.sliced import explain_sliced
from detect_cli.errors import ConfigError, InputError
from detect_cli.failures import FailureWatch, blank_image, describe
from detect_cli.images import ReadOptions, read_image
from detect_cli.models import Detector, PredictOptions
from detect_cli.saving import ImageSaver
from detect_cli.slicing import SlicedDetector
from detect_cli.sources import Source


@dataclass(frozen=True)
class AttentionSettings:
    method: str = "attention"
    layer: int | None = None
    check: bool = False  # measure faithfulness (metrics.py)
    save_dir: Path | None = None  # write overlays under it
    raw: bool = False  # with save_dir: the maps as .npy too
    attention_map: str = "decoder"  # RT-DETR: decoder cross-attention or AIFI encoder self-attention
    masks: int = MASKS  # D-RISE


@dataclass
class AttentionJob:
    detector: Detector
    options: PredictOptions
    settings: AttentionSettings = field(default_factory=AttentionSettings)
    read_options: ReadOptions = field(default_factory=ReadOptions)
    scores: MetricTable = field(default_factory=MetricTable)
    failed: int = 0
    sliced: SlicedDetector | None = None  # --slice: maps from the tiles (attention method, no deletion test)

    def __post_init__(self) -> None:
        map_names(self.settings.method, self.detector.ref.family, self.settings.attention_map)  # or ConfigError
        if self.settings.masks < 1:
            raise ConfigError(f"--masks {self.settings.masks}: give at least 1 (D-RISE's maps sharpen with more)")

    def records(self, sources: Iterable[Source]) -> Iterator[dict[str, Any]]:
        """Yield each input's record as soon as it is done (`status` "ok" or "error")."""
        saver = ImageSaver(self.settings.save_dir) if self.settings.save_dir is not None else None
        rng = np.random.default_rng(0)
        watch = FailureWatch(lambda: explain_image(self.detector, blank_image(self.options.imgsz), self.options,
                                                   **self._how()))  # fmt: skip
        for index, source in enumerate(sources):
            record = self._explain(index, source, saver, rng, watch)
            self.failed += record["status"] == "error"
            yield record

    def faithfulness(self) -> list[dict[str, Any]] | None:
        """Per method: deletion/insertion AUC, energy-based pointing game, pointing game, mean and 95% interval."""
        return self.scores.rows() if self.settings.check else None

    def _how(self) -> dict[str, Any]:
        s = self.settings
        return {"method": s.method, "layer": s.layer, "attention_map": s.attention_map, "masks": s.masks}

    def _explain(self, index: int, source: Source, saver: ImageSaver | None, rng: np.random.Generator,
                 watch: FailureWatch) -> dict:  # fmt: skip
        record: dict[str, Any] = {"index": index, "source": source.ref, "status": "ok", "error": None,
                                  "width": None, "height": None, "maps": None, "detections": [],
                                  "overlays": None}  # fmt: skip
        try:
            image = read_image(source, self.read_options)
        except InputError as exc:
            return {**record, "status": "error", "error": str(exc)}
        record.update(width=image.shape[1], height=image.shape[0])
        scores = MetricTable() if self.settings.check else None
        try:
            if self.sliced is not None:
                result, _ = explain_sliced(self.sliced, image, self.options)
            else:
                result = explain_image(self.detector, image, self.options, **self._how(), check=scores, rng=rng)
            record.update(maps=result.layer, detections=result.record())
        except Exception as exc:  # an odd image fails alone; a broken model stops the run (watch.failed raises)
            return {**record, "status": "error", "error": f"cannot explain this image: {watch.failed(exc, source.ref)}"}
        watch.ok()
        if scores is not None:  # only whole images count in the run's table
            self.scores.merge(scores)
        if saver is not None:
            try:
                record["overlays"] = str(write_overlays(overlay_folder(saver, source.name), image, result,
                                                        raw=self.settings.raw))  # fmt: skip
            except (OSError, ValueError) as exc:  # the figures above are kept in the record
                return {**record, "status": "error", "error": f"cannot write overlays: {describe(exc)}"}
        return record

