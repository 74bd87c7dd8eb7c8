"""The detect task: results from the engine (or Ray), tracked and counted when asked, their annotated
images and videos saved (and cropped, redacted, shown: outputs/pictures.py), and a running summary.
Records are `ImageResult`s; `tasks/driver.py` runs it.

Long because the job joins every stage a result goes through (engine or Ray, tracking, zones, pictures,
videos, heatmaps), each in a few lines, and the failures of each stay that result's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import cv2

from detect_cli.core.errors import ConfigError, InputError, one_line
from detect_cli.core.polygons import OCCUPANCY
from detect_cli.core.results import ImageResult, Unsaved
from detect_cli.core.settings import DetectSettings
from detect_cli.inputs.images import read_image
from detect_cli.inputs.sources import Source, is_url, stills_only
from detect_cli.inputs.video import VideoOptions
from detect_cli.models.detector import Detector
from detect_cli.models.open import predict_options, read_options
from detect_cli.outputs.annotate import draw_count_line, draw_zones
from detect_cli.outputs.image_saver import ImageSaver, SaveRefused
from detect_cli.outputs.pictures import Pictures
from detect_cli.outputs.records import IMAGES, Layout
from detect_cli.outputs.sinks import Sink
from detect_cli.outputs.video_saver import VideoSaver
from detect_cli.pipeline.engine import detect_stream
from detect_cli.pipeline.run_summary import RunSummary
from detect_cli.pipeline.slicing import SlicedDetector, slice_options, sliced

if TYPE_CHECKING:
    from detect_cli.attention.explaining import ExplainingDetector
    from detect_cli.attention.run import ImageAttention
    from detect_cli.pipeline.line_crossings import Line
    from detect_cli.pipeline.ray.cluster import RayOptions
    from detect_cli.pipeline.spatial import SpatialStage


def run_metadata(
    settings: DetectSettings, detector: Detector, *, tracker: str | None = None, video: VideoOptions | None = None
) -> dict[str, Any]:
    """What a results file records about how it was made: the settings with what else shapes the
    results (--track and its tracker, and which frames of a video: what --resume checks)."""
    frames = (video or VideoOptions()).fingerprint()
    return {
        "command": "detect",
        "model": {
            "spec": detector.ref.spec,
            "path": detector.ref.path,
            "family": detector.ref.family,
            "nms_free": not detector.runs_nms(predict_options(settings, detector))
            if detector.ref.family == "yolo"
            else None,
            "names": {str(k): v for k, v in detector.names.items()},
            "backend": {"name": detector.backend, "precision": detector.precision, "reason": detector.backend_reason},
            "letterbox": detector.letterbox_ran(settings.letterbox),  # as pictures run: rect or square
        },
        "settings": {**settings.as_dict(), "track": tracker is not None, "tracker": tracker, **frames},
    }


@dataclass
class DetectJob:
    """Detect on every source: `records(sources)` yields one `ImageResult` per image or video frame, in
    input order; `run(sources, sinks)` drives it to the end and returns the `RunSummary`."""

    layout: ClassVar[Layout] = IMAGES  # how its records are written
    settings: DetectSettings
    detector: Detector
    save_dir: Path | None = None
    done: Mapping[int, str] = field(default_factory=dict)  # index -> source already in the output (--resume)
    # With save_dir: also write attention overlays (DIR/<image>_attention/...). The detections then come
    # from the hooked prediction that makes the maps (the same boxes: the hooks only read).
    attention: bool = False
    ray: RayOptions | None = None  # run on a Ray cluster instead of this process
    video: VideoOptions = field(default_factory=VideoOptions)
    track: str | None = None  # a tracker name (tracking.TRACKERS): a track id per box
    count_line: Line | None = None  # with track: count the tracks that cross it, per video (counting.py)
    # --resume of videos cut short: index -> (last frame written, largest track id written)
    videos_done: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    spatial: SpatialStage | None = None  # --zone / --heatmap: per sequence, after tracking (pipeline/spatial.py)
    heatmap_dir: Path | None = None  # with spatial.heatmap: where the maps are written at the end
    summary_so_far: RunSummary = field(default_factory=RunSummary)  # complete once the records end
    # stages on the result stream before tracking and saving (--watch: a file deleted before it was read)
    stages: Sequence[Callable[[Iterable[ImageResult]], Iterable[ImageResult]]] = ()
    keep_pixels: bool = False  # records keep their decoded image (a sink writes it: --format yolo's frames)
    # what pictures get (styles, --redact, --save-crop, --show); None: from the settings, checked against
    # the model's class names when the job is made (a ConfigError before any image runs)
    pictures: Pictures | None = None
    _explaining: ExplainingDetector | None = field(default=None, init=False, repr=False)
    _broken_video: tuple[int, str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.pictures is None:
            self.pictures = Pictures.from_settings(self.settings, self.detector.class_ids)

    def run(
        self,
        sources: Iterable[Source],
        sinks: Sequence[Sink] = (),
        on_result: Callable[[ImageResult], None] | None = None,
    ) -> RunSummary:
        """Process every source into `sinks`; on Ctrl-C, stop and keep what was written."""
        from detect_cli.tasks.driver import drive

        return drive(self, sources, sinks, on_result).summary  # type: ignore[no-any-return]

    def records(self, sources: Iterable[Source]) -> Iterator[ImageResult]:
        """One result per image or video frame, in input order, as each is done (pixels dropped).
        Each call is a run of its own: the summary starts again (in place: the CLI's callbacks hold it)."""
        vars(self.summary_so_far).update(vars(RunSummary()))
        self._broken_video = None
        saver = ImageSaver(self.save_dir) if self.save_dir else None
        pictures = self.pictures or Pictures()
        if self.attention and saver:
            from detect_cli.attention.explaining import ExplainingDetector

            slicing = slice_options(self.settings)
            self._explaining = ExplainingDetector(
                self.detector, SlicedDetector(self.detector, slicing, self.settings.batch) if slicing else None
            )
        start = time.perf_counter()
        self.summary_so_far.count_line = self.count_line

        def skip(index: int, source: Source) -> bool:
            recorded = self.done.get(index)
            if recorded is None:
                return False
            if recorded != source.ref:
                raise ConfigError(
                    f"--resume: input #{index} is now {source.ref}, but the results file has {recorded} "
                    "there (the inputs changed since that run)",
                    "give the same inputs in the same order, or write to a new file",
                )
            if index in self.videos_done:
                return False  # a video cut short: read again from after its last frame written
            self.summary_so_far.resumed += 1
            if saver:
                saver.reserve(source.name)  # so later names come out as in one run
            return True

        stream = self._stream(sources, skip)
        for stage in self.stages:
            stream = stage(stream)
        if self.track:
            from detect_cli.pipeline.tracking import track_stream

            first_ids = {index: top + 1 for index, (_, top) in self.videos_done.items()}
            stream = track_stream(stream, self.track, first_ids)
        if self.spatial is not None:
            self.summary_so_far.zones = self.spatial.counters
            stream = self.spatial.stream(stream)
        videos = VideoSaver(saver) if saver else None
        try:
            for result in stream:
                if result.ok:
                    result = pictures.mark(result)
                shown = True
                if result.ok and (saver or pictures.needs_pixels):
                    result, shown = self._pictures(result, pictures, saver, videos)
                # don't keep pixels (nor attention maps) past this point; a sink that writes pixels gets them
                bare = replace(result, image=None, detections=result.detections.with_metadata(attention=None))
                self.summary_so_far.add(bare)
                yield replace(bare, image=result.image) if self.keep_pixels else bare
                if not shown:  # q, or the window closed: the run ends here, as after Ctrl-C, but it is no failure
                    self.summary_so_far.stopped = "the --show window was closed"
                    return
        finally:
            if pictures.window is not None:
                pictures.window.close()
            if videos:
                self._close_video(videos)
            if self.spatial is not None and self.heatmap_dir is not None:
                self._save_heatmaps(self.spatial, self.heatmap_dir)
            self.summary_so_far.wall_s = time.perf_counter() - start

    def summary(self, interrupted: bool = False) -> RunSummary:
        self.summary_so_far.interrupted = self.summary_so_far.interrupted or interrupted
        return self.summary_so_far

    def incomplete(self) -> bool:
        return bool(self.summary_so_far.failed or self.summary_so_far.unsaved)

    def _stream(self, sources: Iterable[Source], skip: Callable[[int, Source], bool]) -> Iterable[ImageResult]:
        """The local engine, or the same work on Ray (records, order and indices alike)."""
        options = predict_options(self.settings, self.detector)
        common = {
            "batch": self.settings.batch,
            "read_options": read_options(self.settings),
            "skip": skip if self.done else None,
        }
        frames = {"video": self.video, "frames_done": {i: last for i, (last, _) in self.videos_done.items()}}
        if self._explaining is not None:  # one hooked prediction gives the boxes and the maps
            return detect_stream(_no_videos(sources, "--attention"), self._explaining, options, **common)
        if self.ray is None:
            return detect_stream(sources, sliced(self.detector, self.settings), options, **common, **frames)
        from detect_cli.pipeline.ray.driver import ray_detect_stream

        return ray_detect_stream(
            _no_videos(sources, "--engine ray"),
            self.detector,
            options,
            ray_options=self.ray,
            slicing=slice_options(self.settings),
            **common,
        )

    def _pictures(
        self, result: ImageResult, pictures: Pictures, saver: ImageSaver | None, videos: VideoSaver | None
    ) -> tuple[ImageResult, bool]:
        """Crops, the annotated picture saved (a still, or a video's frame) and shown. A file not written
        costs that file only (a warning; the detections are kept). False when the window was closed."""
        if result.image is None:  # Ray decodes on the workers and sends back no pixels: read it here
            try:
                image = read_image(
                    Source(result.source, result.name, is_url(result.source)), read_options(self.settings)
                )
            except InputError as exc:
                return result.not_saved(Unsaved.ANNOTATED, one_line(exc, first=True)), True
            result = replace(result, image=image)
        assert result.image is not None
        if pictures.crops is not None:
            try:
                pictures.save_crops(result.image, result)
            except (OSError, SaveRefused, cv2.error) as exc:
                result = result.not_saved(Unsaved.CROPS, one_line(exc, first=True))
        if saver is None and pictures.window is None:
            return result, True
        try:
            picture = pictures.draw(result.image, result, lambda frame: self._decorate(frame, result))
        except cv2.error as exc:  # a picture OpenCV cannot draw on: that picture is lost, not the run
            return result.not_saved(Unsaved.ANNOTATED, one_line(exc, first=True)), True
        if videos is not None and result.frame is not None:
            result = self._save_frame(videos, picture, result)
        elif saver is not None:
            result = self._save(saver, picture, result)
        if pictures.window is None:
            return result, True
        caption = result.name if result.frame is None else f"{result.name} frame {result.frame}"
        return result, pictures.window.show(picture, caption, still=result.frame is None)

    def _decorate(self, frame: Any, result: ImageResult) -> Any:
        """A video's count line, and the zones, on the annotated picture."""
        if self.count_line is not None and result.frame is not None:
            line = self.count_line.in_frame(frame.shape[1], frame.shape[0])
            draw_count_line(frame, line.as_list(), self._crossings_so_far(result.source))
        return self._draw_zones(frame, result)

    def _save_frame(self, videos: VideoSaver, frame: Any, result: ImageResult) -> ImageResult:
        """Append the annotated frame to its video; a failure is said once, on the frame where it
        happened (the detections of every frame are kept), and the rest of that video is not written."""
        if self._broken_video == (result.index, result.source):
            return result
        try:
            videos.add(result.index, result.source, result.name, frame, result.time_s)
        except (OSError, SaveRefused, cv2.error) as exc:
            videos.abandon()
            self._broken_video = (result.index, result.source)
            why = f"annotated video stopped at frame {result.frame}: {one_line(exc, first=True)}"
            return result.not_saved(Unsaved.ANNOTATED, why)
        return result

    def _draw_zones(self, frame: Any, result: ImageResult) -> Any:
        if self.spatial is not None and OCCUPANCY in result.detections.metadata:
            zones = [(z.name, z.points) for z in self.spatial.zones_of(result)]
            draw_zones(frame, zones, result.detections.metadata[OCCUPANCY])
        return frame

    def _save_heatmaps(self, spatial: SpatialStage, folder: Path) -> None:
        saved, failed = spatial.write_heatmaps(folder)
        self.summary_so_far.heatmaps = [h.as_dict() for h in saved]
        self.summary_so_far.unsaved.extend((key, f"{Unsaved.HEATMAP.value}: {why}") for key, why in failed)

    def _crossings_so_far(self, source: str) -> str:
        stats = self.summary_so_far.videos.get(source)
        counted = stats.crossings if stats is not None else None
        return f"in {counted.total('in') if counted else 0}  out {counted.total('out') if counted else 0}"

    def _close_video(self, videos: VideoSaver) -> None:
        try:
            videos.close()
        except (OSError, cv2.error) as exc:
            videos.failures.append((videos.path, one_line(exc, first=True)))
        for path, reason in videos.failures:  # a video found cut short when it was finished (a full disk)
            where = path.as_posix() if path else "video"
            warning = f"{Unsaved.ANNOTATED.value}: {reason}"
            self.summary_so_far.warnings.append((where, warning))
            self.summary_so_far.unsaved.append((where, warning))

    def _save(self, saver: ImageSaver, picture: Any, result: ImageResult) -> ImageResult:
        """Write the annotated image (and overlays). A failure here costs that file only: the
        detections still go to the sinks, with a warning saying what was not written."""
        explained = self._explaining.judge(result.detections, result.image, result.source) if self._explaining else None
        try:
            path = saver.save(result.name, picture)
        except (OSError, SaveRefused, cv2.error) as exc:
            return result.not_saved(Unsaved.ANNOTATED, one_line(exc, first=True))
        if isinstance(explained, str):
            return result.not_saved(Unsaved.OVERLAYS, f"cannot explain this image: {explained}")
        if explained is not None:
            try:
                self._save_attention(path, result, explained)
            except (OSError, cv2.error, ValueError) as exc:  # the detections are kept
                return result.not_saved(Unsaved.OVERLAYS, one_line(exc, first=True))
        return result

    def _save_attention(self, annotated: Path, result: ImageResult, explained: ImageAttention) -> None:
        """Overlays beside the annotated image, in a folder named after it."""
        from detect_cli.attention.overlays import save_overlays

        save_overlays(annotated.parent, annotated.stem + "_attention", result.image, explained)


def _no_videos(sources: Iterable[Source], where: str) -> Iterator[Source]:
    return stills_only(sources, f"videos and streams are not supported with {where} (run them without it)")
