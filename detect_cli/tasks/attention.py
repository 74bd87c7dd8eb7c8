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
from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.errors import AttnDetectError, ConfigError
from detect_cli.core.results import ImageResult, Timing
from detect_cli.inputs.images import ReadOptions
from detect_cli.inputs.sources import Source
from detect_cli.inputs.video import VideoOptions
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.outputs.image_saver import ImageSaver, SaveRefused
from detect_cli.outputs.records import Layout
from detect_cli.outputs.video_saver import VideoSaver
from detect_cli.pipeline.engine import detect_stream
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


def check_slicing(slicing: bool, method: str, check: bool) -> None:
    """Sliced maps come from the tile that found each detection: the attention method only, unchecked."""
    if slicing and (method != "attention" or check):
        raise ConfigError(
            "--slice explains with --method attention only, without --check",
            "each detection's map comes from the tile that found it",
        )


def check_explainable(detector: Detector, method: str, layer: int | None) -> None:
    """The opened model can give `method`'s maps (at `layer`); ConfigError otherwise."""
    from detect_cli.attention.capture import rtdetr_layers

    if detector.ref.kind == "exported" and method != "drise":
        raise ConfigError(
            "attention maps need the PyTorch model (.pt or YAML), not an export",
            f"pass the .pt it was exported from instead of {detector.ref.spec} (or --method drise)",
        )
    if layer is not None and detector.ref.family == "rtdetr" and not 0 <= layer < rtdetr_layers(detector):
        raise ConfigError(f"--layer {layer}: this model has decoder layers 0..{rtdetr_layers(detector) - 1}")


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
    caps: Capped = field(default_factory=Capped)  # how --max-det (and --max-det-image) bore on the images

    def __post_init__(self) -> None:
        map_names(self.settings.method, self.detector.ref.family, self.settings.attention_map)  # or ConfigError
        if self.settings.masks < 1:
            raise ConfigError(f"--masks {self.settings.masks}: give at least 1 (D-RISE's maps sharpen with more)")

    def records(self, sources: Iterable[Source]) -> Iterator[dict[str, Any]]:
        """Yield each input's record as soon as it is done (`status` "ok" or "error"); a video gives one
        record per frame (with `frame` and `time_s`) and, with `save_dir`, an overlay video. Inputs are
        read by the engine, as detect's are (read-ahead, byte budget, video frames, bad inputs)."""
        explained = self.explained(sources)
        try:
            for record, _ in explained:
                yield record
        finally:
            explained.close()  # the overlay video is finished now, not when the generator is collected

    def explained(self, sources: Iterable[Source]) -> Iterator[tuple[dict[str, Any], ImageResult]]:
        """Each record with the result it was made from: its pixels and, when it was explained, the
        `ImageAttention` (maps, boxes) in `result.detections.metadata["attention"]`. Each call is a run
        of its own: the failures, faithfulness scores and caps start again."""
        self.failed, self.scores, self.caps = 0, MetricTable(), Capped()
        saver = ImageSaver(self.settings.save_dir) if self.settings.save_dir is not None else None
        videos = VideoSaver(saver) if saver is not None else None
        explainer = _Explainer(self)
        watch = FailureWatch(
            lambda: explain_image(self.detector, blank_image(self.options.imgsz), self.options, **self._how())
        )
        broken: set[int] = set()  # inputs whose overlay video stopped
        try:
            for result in detect_stream(
                sources, explainer, self.options, read_options=self.read_options, video=self.video
            ):
                record = self._record(result, watch)
                if result.image is not None and record["status"] == "ok":
                    record = self._save(record, result, saver, videos, broken)
                self.failed += record["status"] == "error"
                yield record, result
        finally:
            if videos is not None:
                videos.close()

    def _record(self, result: ImageResult, watch: FailureWatch) -> dict[str, Any]:
        record = {
            "index": result.index,
            "source": result.source,
            "status": "ok",
            "error": None,
            "width": result.width,
            "height": result.height,
            "maps": None,
            "detections": [],
            "overlays": None,
        }
        if result.frame is not None:
            record.update(frame=result.frame, time_s=result.time_s)
        if not result.ok:
            return {**record, "status": "error", "error": result.error}
        explained, scores = result.detections.metadata["attention"], result.detections.metadata.get("scores")
        if isinstance(explained, Exception):  # an odd image fails alone; a broken model stops the run
            why = watch.failed(explained, result.source)
            return {**record, "status": "error", "error": f"cannot explain this image: {why}"}
        watch.ok()
        self.caps += result.detections.metadata.get(CAPS, Capped())
        if scores is not None:  # only whole images count in the run's table
            self.scores.merge(scores)
        return {**record, "maps": explained.layer, "detections": explained.record()}

    def _save(
        self,
        record: dict[str, Any],
        result: ImageResult,
        saver: ImageSaver | None,
        videos: VideoSaver | None,
        broken: set[int],
    ) -> dict[str, Any]:
        """The overlays beside the record: a folder per still image, one overlay video per video."""
        explained: ImageAttention = result.detections.metadata["attention"]
        assert result.image is not None
        if result.frame is not None:
            if videos is None or result.index in broken:
                return record
            name = str(Path(result.name or "video").with_suffix("")) + "_attention.mp4"
            try:
                overlay = _frame_overlay(result.image, explained)
                written = videos.add(result.index, result.source, name, overlay, result.time_s)
                return {**record, "overlays": str(written)}
            except (OSError, cv2.error, SaveRefused) as exc:  # the figures are kept; the video stops here
                videos.abandon()
                broken.add(result.index)
                return {**record, "status": "error", "error": f"overlay video stopped here: {describe(exc)}"}
        if saver is None:
            return record
        try:
            folder = overlay_folder(saver, result.name)
            return {**record, "overlays": str(write_overlays(folder, result.image, explained, raw=self.settings.raw))}
        except (OSError, ValueError) as exc:  # the figures above are kept in the record
            return {**record, "status": "error", "error": f"cannot write overlays: {describe(exc)}"}

    def _how(self) -> dict[str, Any]:
        s = self.settings
        return {"method": s.method, "layer": s.layer, "attention_map": s.attention_map, "masks": s.masks}

    @property
    def layout(self) -> Layout:
        """How its records are written: the figures of each map it makes are columns."""
        from detect_cli.attention.records import attention_layout

        return attention_layout(
            tuple(map_names(self.settings.method, self.detector.ref.family, self.settings.attention_map))
        )

    def summary(self, interrupted: bool = False) -> dict[str, Any]:
        return {"faithfulness": self.faithfulness(), "failed": self.failed, "interrupted": interrupted}

    def incomplete(self) -> bool:
        return self.failed > 0

    def faithfulness(self) -> list[dict[str, Any]] | None:
        """Per method: deletion/insertion AUC, energy-based pointing game, pointing game, mean and 95% interval."""
        return self.scores.rows() if self.settings.check else None


def _frame_overlay(image: np.ndarray, result: ImageAttention) -> np.ndarray:
    """A video frame: the first whole-image map over the frame, with every box."""
    return image_overlay(image, next(iter(result.image_maps.values())), result)


class _Explainer:
    """The model as the engine sees it: each image explained in one pass (detections, maps, and with
    the check its faithfulness figures), the explanation carried in the detections' metadata. A
    failure to explain one image is kept there too, for `AttentionJob._record` to judge."""

    def __init__(self, job: AttentionJob) -> None:
        self.job, self.names = job, job.detector.names
        self.rng = np.random.default_rng(0)

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        return [self._one(image, options) for image in images]

    def _one(self, image: np.ndarray, options: PredictOptions) -> tuple[Detections, Timing]:
        job = self.job
        scores = MetricTable() if job.settings.check else None
        try:
            if job.sliced is not None:
                result, _ = explain_sliced(job.sliced, image, options)
            else:
                result = explain_image(job.detector, image, options, **job._how(), check=scores, rng=self.rng)
        except AttnDetectError:
            raise  # says what it is (an export, no attention block): not about this image
        except Exception as exc:
            return Detections.empty().with_metadata(attention=exc), Timing()
        return result.detections.with_metadata(attention=result, scores=scores), Timing()
