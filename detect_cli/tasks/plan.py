"""A detect run, decided and checked before any model loads: the one place its cross-option rules live.

`DetectPlan` holds what a detect run does besides its settings (tracking, a counting line, zones and
heatmaps, video frames, attention overlays, --save, where the results go, --resume, --watch, Ray) and
`validate()` refuses what does not go together, with the messages the CLI prints. `detect_cli.Model`
and `attn-detect detect` both build one, so a Python caller is protected by the same rules as the
command line; `claim()` guards the inputs from the outputs, `job(detector)` makes the `DetectJob`, and
`tasks/detect_run.run_plan` runs the whole plan: resume, watch, sinks, or Ray shards.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detect_cli.core.choices import TRACKERS
from detect_cli.core.errors import ConfigError
from detect_cli.core.settings import DetectSettings
from detect_cli.tasks.output_plan import OutputPlan

if TYPE_CHECKING:  # NumPy and OpenCV: not for --help
    from detect_cli.inputs.video import VideoOptions
    from detect_cli.models.detector import Detector
    from detect_cli.pipeline.line_crossings import Line
    from detect_cli.pipeline.ray.cluster import RayOptions
    from detect_cli.pipeline.spatial import SpatialStage
    from detect_cli.tasks.detect import DetectJob

DEFAULT_TRACKER = "botsort"


@dataclass(frozen=True)
class DetectPlan:
    """What a detect run does, from its settings and options; `validate()` before any model loads."""

    settings: DetectSettings
    save: Path | None = None  # annotated images and videos
    attention: bool = False  # with save: attention overlays beside them
    track: bool = False
    tracker: str = DEFAULT_TRACKER
    count_line: str | None = None  # X1,Y1,X2,Y2 (pixels or %): counts the tracks that cross it
    heatmap: Path | None = None  # where --heatmap's maps go
    vid_stride: int | None = None
    start: float | None = None
    end: float | None = None
    ray: bool = False  # run on a Ray cluster (--engine ray)
    sources: tuple[str, ...] = field(default=())  # the arguments, for the checks made from them (a line on a video)
    # where the results go (--format, --out): a file, stdout, a dataset folder, or with Ray a folder of shards
    format: str | None = None
    out: str | Path | None = None
    resume: bool = False  # continue --out FILE (JSONL or CSV) where it stopped
    retry_failed: bool = False  # with resume: run the inputs that failed again
    watch: bool = False  # follow the folders in `sources` as files land
    save_conf: bool = False  # --format yolo: a confidence column in the labels
    image_root: str | None = None  # --format labelstudio / coco-dataset: where the tool finds the images
    address: str | None = None  # with ray: the cluster (None: RAY_ADDRESS, else a local instance)
    actors: int = 1
    gpus_per_actor: float = 0.0
    verbose: bool = False  # with ray: Ray's own logs
    _output: OutputPlan | None = field(default=None, init=False, repr=False, compare=False)

    def validate(self) -> DetectPlan:
        """Refuse what does not go together (ConfigError, with the CLI's message); returns self."""
        if not isinstance(self.settings, DetectSettings):
            raise TypeError("DetectPlan(settings): expected DetectSettings (detect_cli.load_settings(...))")
        for name in ("save", "heatmap"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                raise TypeError(f"DetectPlan({name}): expected a folder's Path, got {type(value).__name__}")
        from detect_cli.outputs.guards import check_folder
        from detect_cli.outputs.pictures import check_pictures

        output = OutputPlan.decide(
            self.format,
            self.out,
            save=self.save,
            resume=self.resume or self.retry_failed,
            attention=self.attention,
            ray=self.ray,
            save_conf=self.save_conf,
            image_root=self.image_root,
        )
        object.__setattr__(self, "_output", output)

        check_pictures(self.settings, self.save)  # --redact, --show, --save-crop
        if self.tracker not in TRACKERS:
            raise ConfigError(f"unknown tracker '{self.tracker}'", f"choose one of {', '.join(TRACKERS)}")
        if self.attention and self.save is None:
            raise ConfigError("--attention writes overlays: it needs --save DIR")
        if self.attention and self.ray:
            raise ConfigError("--attention runs locally only", "drop --engine ray, or use the attention command")
        check_folder(self.save)
        line = self.line()
        if line is not None:
            line.check_on_videos(list(self.sources))  # a line the frame makes empty or misses
            if self.ray:
                raise ConfigError(
                    "--count-line runs locally only (it follows tracks, frame by frame)", "drop --engine ray"
                )
        self.spatial()  # zones and heatmaps: locally, into a folder
        if self.tracking and self.ray:
            raise ConfigError("--track runs locally only (a tracker needs the frames in order)", "drop --engine ray")
        if self.tracking and self.attention:
            raise ConfigError("--track and --attention do not go together", "run them apart")
        self.video()
        if self.watch:
            from detect_cli.tasks.watch import check_watch

            check_watch(self.sources, ray=self.ray, resume=self.resume, out_format=output.format)
        if self.resume:
            _check_resumable(output)
        if self.ray:
            from detect_cli.pipeline.ray.cluster import require_ray

            require_ray()
        return self

    @property
    def output(self) -> OutputPlan:
        """Where the results go (decided by `validate()`)."""
        if self._output is None:
            self.validate()
        assert self._output is not None
        return self._output

    def claim(self, keep: Mapping[str, object] | None = None) -> AbstractContextManager[object]:
        """Refuse outputs (--out, --save, --save-crop) that would destroy or re-read an input or a file
        in `keep` (the model, the config...); returns the lock on --out FILE, to hold while the run
        writes it. Before any model loads."""
        save_crop = self.settings.save_crop
        return self.output.claim(
            [s for s in self.sources if isinstance(s, str)],
            save=self.save,
            save_crop=Path(save_crop) if save_crop else None,
            recursive=self.settings.recursive,
            keep=keep,
        )

    def opened(self, settings: DetectSettings) -> DetectPlan:
        """The plan with the settings its model runs at (imgsz resolved), its decisions kept."""
        plan = replace(self, settings=settings)
        object.__setattr__(plan, "_output", self._output)
        return plan

    @property
    def counts_inputs(self) -> bool:
        """Whether the run has an end to count to (a watch has none; Ray's shards are not counted)."""
        return not self.watch and not self.output.sharded

    def ray_options(self) -> RayOptions | None:
        """How the Ray cluster is reached and its actors made (None: a local run)."""
        if not self.ray:
            return None
        from detect_cli.pipeline.ray.cluster import RayOptions

        return RayOptions(
            self.address,
            self.actors,
            self.gpus_per_actor,
            threads_per_actor=self.settings.threads,
            device=self.settings.device,
            half=self.settings.half,
            verbose=self.verbose,
        )

    @property
    def tracking(self) -> str | None:
        """The tracker the run uses: asked for, or needed (counting a line or zones follows tracks)."""
        needed = self.track or self.count_line is not None or bool(self.settings.zones)
        return self.tracker if needed else None

    def line(self) -> Line | None:
        if self.count_line is None:
            return None
        from detect_cli.pipeline.line_crossings import Line

        return Line.parse(self.count_line)

    def video(self) -> VideoOptions:
        from detect_cli.inputs.video import VideoOptions

        return VideoOptions(
            stride=self.vid_stride or 1, start_s=self.start or 0.0, end_s=self.end, buffer=self.settings.stream_buffer
        )

    def spatial(self) -> SpatialStage | None:
        """The run's zones and heatmaps (from the options or the config file), or None when it has neither."""
        return spatial_stage(self.settings, self.heatmap, ray=self.ray)

    def job(
        self,
        detector: Detector,
        *,
        spatial: SpatialStage | None = None,
        ray: RayOptions | None = None,
        done: Mapping[int, str] | None = None,
        videos_done: Mapping[int, tuple[int, int]] | None = None,
        keep_pixels: bool = False,
        **more: Any,
    ) -> DetectJob:
        """The `DetectJob` that runs this plan with `detector` (`spatial`: a stage already made, e.g.
        one `--resume` has fed the recorded results; else a new one)."""
        from detect_cli.tasks.detect import DetectJob

        spatial = spatial if spatial is not None else self.spatial()
        check_heatmap_classes(spatial, detector.names)
        return DetectJob(
            self.settings,
            detector,
            save_dir=self.save,
            done=done or {},
            attention=self.attention,
            ray=ray,
            video=self.video(),
            track=self.tracking,
            count_line=self.line(),
            videos_done=videos_done or {},
            spatial=spatial,
            heatmap_dir=self.heatmap,
            keep_pixels=keep_pixels,
            **more,
        )


def _check_resumable(output: OutputPlan) -> None:
    from detect_cli.outputs.guards import is_regular_target
    from detect_cli.tasks.resume import RESUMABLE

    if output.out_file is None or output.format not in RESUMABLE:
        raise ConfigError(f"--resume works with JSONL or CSV output, not {output.format}", "use --out results.jsonl")
    if not is_regular_target(output.out_file):
        raise ConfigError(f"--resume needs a regular results file, not {output.out_file}")


def spatial_flags(
    zones: list[str] | None, anchor: str | None, heatmap_classes: str | None, *, heatmap: Path | None = None
) -> dict[str, object]:
    """--zone, --zone-anchor and --heatmap-classes as settings overrides (None: not given). A bad zone is
    refused here, by its name, and --heatmap-classes without --heatmap (it would choose maps no one draws)."""
    if heatmap_classes is not None and heatmap is None:
        raise ConfigError(
            f"--heatmap-classes {heatmap_classes}: chooses --heatmap's maps, and --heatmap is not given",
            "add --heatmap DIR, or drop --heatmap-classes",
        )
    if zones:
        from detect_cli.core.polygons import parse_zones

        parse_zones(zones)
    return {"zones": tuple(zones) if zones else None, "zone_anchor": anchor, "heatmap_classes": heatmap_classes}


def spatial_stage(settings: DetectSettings, heatmap: Path | None, *, ray: bool) -> SpatialStage | None:
    """The run's zones and heatmaps (from the flags or the config file), or None when it has neither."""
    if not settings.zones and heatmap is None:
        return None
    if ray:
        raise ConfigError(
            "--zone and --heatmap run locally only (they follow each video frame by frame)", "drop --engine ray"
        )
    from detect_cli.outputs.guards import check_folder

    check_folder(heatmap, "--heatmap")
    from detect_cli.core.polygons import parse_zones
    from detect_cli.pipeline.heatmap import parse_heatmap_classes
    from detect_cli.pipeline.spatial import SpatialStage

    return SpatialStage(
        parse_zones(settings.zones or ()),
        settings.zone_anchor,
        parse_heatmap_classes(settings.heatmap_classes) if heatmap is not None else None,
    )


def check_heatmap_classes(stage: SpatialStage | None, names: dict[int, str]) -> None:
    """--heatmap-classes names classes this model knows (or all / each); ConfigError otherwise."""
    from detect_cli.pipeline.heatmap import ALL, EACH

    known = {n.lower(): n for n in names.values()}
    for item in stage.heatmap or () if stage is not None else ():
        if item in (ALL, EACH) or item in names.values():
            continue
        close = difflib.get_close_matches(item.lower(), known, n=3)
        hint = f"did you mean {', '.join(known[c] for c in close)}?" if close else "give all, each, or class names"
        raise ConfigError(f"--heatmap-classes: unknown class '{item}' for this model", hint)
