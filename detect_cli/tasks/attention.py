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

import cv2
import numpy as np

from detect_cli.attention.drise import MASKS
from detect_cli.attention.metrics import MetricTable
from detect_cli.attention.overlays import image_overlay, overlay_folder, write_overlays
from detect_cli.attention.run import ImageAttention, explain_image, map_names
from detect_cli.attention.sliced import explain_sliced
from detect_cli.core.errors import ConfigError, InputError
from detect_cli.inputs.images import ReadOptions, read_image
from detect_cli.inputs.sources import Source, is_video
from detect_cli.inputs.video import VideoOptions, read_frames
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.outputs.image_saver import ImageSaver, SaveRefused
from detect_cli.outputs.records import Layout
from detect_cli.outputs.video_saver import VideoSaver
from detect_cli.pipeline.failures import FailureWatch, blank_image, describe
from detect_cli.pipeline.slicing import SlicedDetector


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
    video: VideoOptions = field(default_factory=VideoOptions)  # the frames of video inputs (--vid-stride, ...)

    def __post_init__(self) -> None:
        map_names(self.settings.method, self.detector.ref.family, self.settings.attention_map)  # or ConfigError
        if self.settings.masks < 1:
            raise ConfigError(f"--masks {self.settings.masks}: give at least 1 (D-RISE's maps sharpen with more)")

    def records(self, sources: Iterable[Source]) -> Iterator[dict[str, Any]]:
        """Yield each input's record as soon as it is done (`status` "ok" or "error"); a video gives one
        record per frame (with `frame` and `time_s`) and, with `save_dir`, an overlay video."""
        saver = ImageSaver(self.settings.save_dir) if self.settings.save_dir is not None else None
        videos = VideoSaver(saver) if saver is not None else None
        rng = np.random.default_rng(0)
        watch = FailureWatch(lambda: explain_image(self.detector, blank_image(self.options.imgsz), self.options,
                                                   **self._how()))  # fmt: skip
        try:
            for index, source in enumerate(sources):
                frames = self._explain_video(index, source, videos, rng, watch) if is_video(source.ref) else \
                    [self._explain(index, source, saver, rng, watch)]  # fmt: skip
                for record in frames:
                    self.failed += record["status"] == "error"
                    yield record
        finally:
            if videos is not None:
                videos.close()

    @property
    def layout(self) -> Layout:
        """How its records are written: the figures of each map it makes are columns."""
        from detect_cli.attention.records import attention_layout

        return attention_layout(tuple(map_names(self.settings.method, self.detector.ref.family,
                                                self.settings.attention_map)))  # fmt: skip

    def summary(self, interrupted: bool = False) -> dict[str, Any]:
        return {"faithfulness": self.faithfulness(), "failed": self.failed, "interrupted": interrupted}

    def incomplete(self) -> bool:
        return self.failed > 0

    def faithfulness(self) -> list[dict[str, Any]] | None:
        """Per method: deletion/insertion AUC, energy-based pointing game, pointing game, mean and 95% interval."""
        return self.scores.rows() if self.settings.check else None

    def _how(self) -> dict[str, Any]:
        s = self.settings
        return {"method": s.method, "layer": s.layer, "attention_map": s.attention_map, "masks": s.masks}

    def _explain_video(self, index: int, source: Source, videos: VideoSaver | None, rng: np.random.Generator,
                       watch: FailureWatch) -> Iterator[dict[str, Any]]:  # fmt: skip
        """One record per frame, each frame explained in one model pass, as a still would be; the
        overlay video shows the first map of each frame with its boxes."""
        name = str(Path(source.name or "video").with_suffix("")) + "_attention.mp4"
        broken = False
        for frame in read_frames(source, self.video, max_pixels=self.read_options.max_pixels):
            record = {**_blank(index, source), "frame": frame.number, "time_s": frame.time_s}
            if frame.pixels is None:
                yield {**record, "status": "error", "error": frame.error}
                continue
            record, result = self._explain_pixels(record, frame.pixels, source, rng, watch)
            if videos is not None and result is not None and not broken:
                try:
                    record["overlays"] = str(videos.add(index, source.ref, name, _frame_overlay(frame.pixels, result),
                                                        frame.time_s))  # fmt: skip
                except (OSError, cv2.error, SaveRefused) as exc:  # the figures are kept; the video stops here
                    videos.abandon()
                    broken = True
                    record = {**record, "status": "error", "error": f"overlay video stopped here: {describe(exc)}"}
            yield record

    def _explain(self, index: int, source: Source, saver: ImageSaver | None, rng: np.random.Generator,
                 watch: FailureWatch) -> dict:  # fmt: skip
        record = _blank(index, source)
        try:
            image = read_image(source, self.read_options)
        except InputError as exc:
            return {**record, "status": "error", "error": str(exc)}
        record, result = self._explain_pixels(record, image, source, rng, watch)
        if saver is not None and result is not None:
            try:
                record["overlays"] = str(write_overlays(overlay_folder(saver, source.name), image, result,
                                                        raw=self.settings.raw))  # fmt: skip
            except (OSError, ValueError) as exc:  # the figures above are kept in the record
                return {**record, "status": "error", "error": f"cannot write overlays: {describe(exc)}"}
        return record

    def _explain_pixels(self, record: dict[str, Any], image: np.ndarray, source: Source, rng: np.random.Generator,
                        watch: FailureWatch) -> tuple[dict[str, Any], ImageAttention | None]:  # fmt: skip
        record = {**record, "width": image.shape[1], "height": image.shape[0]}
        scores = MetricTable() if self.settings.check else None
        try:
            if self.sliced is not None:
                result, _ = explain_sliced(self.sliced, image, self.options)
            else:
                result = explain_image(self.detector, image, self.options, **self._how(), check=scores, rng=rng)
            record.update(maps=result.layer, detections=result.record())
        except Exception as exc:  # an odd image fails alone; a broken model stops the run (watch.failed raises)
            error = f"cannot explain this image: {watch.failed(exc, source.ref)}"
            return {**record, "status": "error", "error": error}, None
        watch.ok()
        if scores is not None:  # only whole images count in the run's table
            self.scores.merge(scores)
        return record, result


def _blank(index: int, source: Source) -> dict[str, Any]:
    return {"index": index, "source": source.ref, "status": "ok", "error": None, "width": None, "height": None,
            "maps": None, "detections": [], "overlays": None}  # fmt: skip


def _frame_overlay(image: np.ndarray, result: ImageAttention) -> np.ndarray:
    """A video frame: the first whole-image map over the frame, with every box."""
    return image_overlay(image, next(iter(result.image_maps.values())), result)

