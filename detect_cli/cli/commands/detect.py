"""`attn-detect detect`: parse, build settings, run the job, render.

Long because detect has the most options (video, tracking, Ray, resume, sharding); each helper below
turns one group of them into settings.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, own_files, settings_from_flags
from detect_cli.cli.console import EXIT_CODES_HELP, err, handle_errors, hold, note, out, set_output, warn
from detect_cli.cli.destination import Destination, data_format, open_results
from detect_cli.cli.label_output import label_options, say_notes, yolo_folder
from detect_cli.cli.progress import RunProgress, wanted
from detect_cli.cli.watching import check_watch, open_watch
from detect_cli.core.errors import ConfigError, ExitCode

if TYPE_CHECKING:  # these bring NumPy or YAML, which --help must not load
    from detect_cli.core.results import ImageResult
    from detect_cli.outputs.sinks import Sink
    from detect_cli.tasks.plan import DetectPlan

app = typer.Typer()


@app.command(epilog=EXIT_CODES_HELP, cls=opt.GroupedCommand)
@handle_errors
def detect(
    sources: opt.Sources,
    model: opt.Model = None,
    weights_dir: opt.WeightsDir = None,
    backend: opt.Backend = None,
    precision: opt.Precision = None,
    calibration: opt.Calibration = None,
    trust_model: opt.TrustModel = False,
    conf: opt.ClassConf = None,
    iou: opt.Iou = None,
    imgsz: opt.Imgsz = None,
    max_det: opt.MaxDet = None,
    max_det_image: opt.MaxDetImage = None,
    device: opt.Device = None,
    batch: opt.Batch = None,
    classes: opt.Classes = None,
    half: opt.Half = None,
    nms: opt.Nms = None,
    agnostic_nms: opt.AgnosticNms = None,
    letterbox: opt.Letterbox = None,
    threads: opt.Threads = None,
    recursive: opt.Recursive = None,
    slice_: opt.Slice = None,
    slice_overlap: opt.SliceOverlap = None,
    slice_full: opt.SliceFull = None,
    slice_merge: opt.SliceMerge = None,
    slice_match: opt.SliceMatch = None,
    slice_tiles: opt.SliceTiles = None,
    fmt: opt.Format = None,
    as_json: opt.Json = False,
    out: opt.OutOrDir = None,
    save: opt.Save = None,
    save_crop: opt.SaveCrop = None,
    redact: opt.Redact = None,
    redact_style: opt.RedactStyle = None,
    hide_boxes: opt.HideBoxes = None,
    line_width: opt.LineWidth = None,
    hide_labels: opt.HideLabels = None,
    hide_conf: opt.HideConf = None,
    show: opt.Show = None,
    stream_buffer: opt.StreamBuffer = None,
    tables: opt.Tables = None,
    attention: opt.AttentionFlag = False,
    vid_stride: opt.VidStride = None,
    start: opt.Start = None,
    end: opt.End = None,
    track: opt.TrackFlag = False,
    tracker: opt.Tracker = opt.TrackerName.botsort,
    count_line: opt.CountLine = None,
    zone: opt.ZoneOpt = None,
    zone_anchor: opt.ZoneAnchor = None,
    heatmap: opt.Heatmap = None,
    heatmap_classes: opt.HeatmapClasses = None,
    engine: opt.EngineOpt = opt.Engine.local,
    address: opt.Address = None,
    actors: opt.Actors = 1,
    gpus_per_actor: opt.GpusPerActor = 0.0,
    resume: opt.Resume = False,
    retry_failed: opt.RetryFailed = False,
    watch: opt.Watch = False,
    save_conf: opt.SaveConf = False,
    image_root: opt.ImageRoot = None,
    config: opt.Config = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    progress: opt.ShowProgress = None,
) -> None:
    """Detect objects in images and videos: boxes and per-class counts as tables, or JSON/JSONL/CSV/COCO/MOT,
    or labels for annotation tools (YOLO, COCO dataset, Label Studio); --watch follows folders."""
    set_output(quiet=quiet, verbose=verbose)
    from detect_cli.cli.zones import check_heatmap_classes, spatial_flags
    from detect_cli.tasks.plan import DetectPlan

    settings = settings_from_flags(
        config,
        model=model,
        backend=backend.value if backend else None,
        precision=precision.value if precision else None,
        calibration=calibration,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        max_det=max_det,
        device=device,
        batch=batch,
        classes=classes,
        half=half,
        nms=nms,
        agnostic_nms=agnostic_nms,
        stream_buffer=stream_buffer,
        letterbox=letterbox.value if letterbox else None,
        threads=threads,
        recursive=recursive,
        tables=tables,
        **opt.slice_flags(slice_, slice_overlap, slice_full, slice_merge, slice_match, slice_tiles, max_det_image),
        **spatial_flags(zone, zone_anchor.value if zone_anchor else None, heatmap_classes, heatmap=heatmap),
        **opt.picture_flags(save_crop, redact, redact_style, line_width, hide_labels, hide_conf, show, hide_boxes),
    )
    plan = _OutputPlan.from_flags(
        data_format(fmt.value if fmt else None, as_json), out, save, resume or retry_failed, attention, engine
    )
    run = DetectPlan(
        settings,
        save=save,
        attention=attention,
        track=track,
        tracker=tracker.value,
        count_line=count_line,
        heatmap=heatmap,
        vid_stride=vid_stride,
        start=start,
        end=end,
        ray=engine == opt.Engine.ray,
        sources=tuple(sources),
    ).validate()
    labels = label_options(plan.out_format, save_conf=save_conf, image_root=image_root, ray=engine == opt.Engine.ray)
    if watch:
        check_watch(sources, ray=engine == opt.Engine.ray, resume=resume, out_format=plan.out_format)
    plan.claim(sources, recursive=settings.recursive, keep=own_files(config, settings.model))
    if settings.save_crop:  # crops never land among the inputs (a later or recursive run would read them)
        from detect_cli.outputs.guards import check_apart

        check_apart(sources, None, Path(settings.save_crop), recursive=settings.recursive, save_flag="--save-crop")
    if plan.out_format == "mot":
        from detect_cli.outputs.mot import check_one_sequence

        check_one_sequence(sources, recursive=settings.recursive)
    line, spatial, video = run.line(), run.spatial(), run.video()
    ray_options = None
    if engine == opt.Engine.ray:
        from detect_cli.pipeline.ray.cluster import RayOptions, require_ray

        require_ray()
        ray_options = RayOptions(
            address,
            actors,
            gpus_per_actor,
            threads_per_actor=settings.threads,
            device=settings.device,
            half=settings.half,
            verbose=verbose,
        )
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    if not plan.sharded and not watch:  # a watch has no end to count to
        bar.count(sources, recursive=settings.recursive, video=video)
    bar.loading(settings.model)
    settings, detector = open_detector(
        settings,
        weights_dir=weights_dir,
        verbose=verbose,
        iou_given=iou is not None,
        trust_model=trust_model,
        needs_torch="--attention" if attention else None,
        status=bar.status,
        sources=sources,
    )
    run = replace(run, settings=settings)  # imgsz as it runs
    check_heatmap_classes(spatial, detector.names)
    if plan.sharded:
        bar.status("running on Ray…", quiet=True)
        summary = _run_sharded(sources, settings, detector, plan.out_file, ray_options)
        _finish(summary, detector, quiet=quiet, tables_are_results=False, imgsz=settings.imgsz)
        return
    done, videos_done = _prepare_out_file(
        plan.out_file,
        plan.out_format,
        settings,
        detector,
        resume=resume,
        retry_failed=retry_failed,
        video=video,
        tracker=run.tracking,
        watch=watch,
    )
    if watch:
        done, videos_done = {}, {}  # a watch skips by file and version, not by position (cli/watching.py)
    if spatial is not None and done:  # --resume: occupancy, time in zone and heatmaps go on from the file
        from detect_cli.tasks.replay import recorded_results

        for result in recorded_results(plan.out_file, plan.out_format, detector.names):
            spatial.observe(result)
    bar.start(
        "watching" if watch else "detecting",
        done=done.keys() - videos_done.keys(),
        partial={i: last for i, (last, _) in videos_done.items()},
    )
    summary, hidden = _run_local(
        sources,
        run,
        detector,
        plan,
        (done, videos_done),
        ray_options,
        bar,
        tables=_table_limit(plan, settings.tables, tables),
        resume=resume,
        labels=labels,
        watch=watch,
        spatial=spatial,
    )
    if hidden:
        note(f"box tables shown for the first {settings.tables} images; --tables -1 shows all")
    if line is not None and not summary.videos:
        warn("--count-line counted nothing: it counts in videos and streams, and none was read")
    if save is not None and not quiet:
        note(f"annotated images written to {save}")
    if settings.save_crop and not quiet:
        note(f"crops written to {settings.save_crop}/<class>/")
    if summary.stopped:
        note(f"stopped early: {summary.stopped} (the records so far are kept)")
    if summary.heatmaps and not quiet:
        note(f"{len(summary.heatmaps)} heatmap(s) (.png and .npy) written to {heatmap}")
    _finish(summary, detector, quiet=quiet, tables_are_results=plan.tables_are_results, imgsz=settings.imgsz)


@dataclass(frozen=True)
class _OutputPlan:
    """Where results go, checked before any model is loaded."""

    out_file: Path | None
    out_format: str | None
    sharded: bool  # --out DIR/ with --engine ray: JSONL shards written by the workers
    tables_are_results: bool  # no --out, no data format: the tables on stdout are the results
    save: Path | None

    @classmethod
    def from_flags(
        cls,
        data_format: str | None,
        out: str | None,
        save: Path | None,
        resume: bool,
        attention: bool,
        engine: opt.Engine,
    ) -> _OutputPlan:
        from detect_cli.core.choices import LABEL_FORMATS
        from detect_cli.outputs.formats import FORMATS, TRACK_FORMATS

        out_file = Path(out) if out else None
        dataset = yolo_folder(data_format, out) is not None  # --out DIR/: a dataset folder for annotation tools
        sharded = not dataset and out is not None and (Path(out).is_dir() or out.endswith(("/", "\\")))
        if sharded and (engine != opt.Engine.ray or data_format not in {None, "jsonl"} or resume or save or attention):
            raise ConfigError(
                f"--out {out}: a folder means sharded JSONL written by Ray workers",
                "use it with --engine ray alone (no --save/--resume), give a file name, "
                "or --format yolo for a YOLO dataset",
            )
        if resume and out_file is None:
            raise ConfigError("--resume needs --out FILE (the results to continue)", "e.g. --out results.jsonl")
        if sharded or dataset:
            return cls(out_file, "jsonl" if sharded else "yolo", sharded, False, save)
        dest = Destination.from_flags(data_format, False, out_file, allowed=FORMATS + TRACK_FORMATS + LABEL_FORMATS)
        return cls(out_file, None if dest.tables_are_results else dest.fmt, False, dest.tables_are_results, save)

    @property
    def regular_out(self) -> bool:
        """--out names a regular file (or a new one): only then a sidecar and a lock beside it."""
        from detect_cli.outputs.guards import is_regular_target

        return self.out_file is not None and not self.sharded and is_regular_target(self.out_file)

    def claim(self, sources: list[str], *, recursive: bool, keep: Mapping[str, object]) -> None:
        """Refuse outputs that would destroy or re-read inputs or the files in `keep`, then lock --out
        FILE until the command ends (a second run writing it fails at once). Both before any model loads."""
        from detect_cli.outputs.guards import OutputLock, check_apart

        folder = self.out_format == "yolo"
        check_apart(
            sources, None if self.sharded or folder else self.out_file, self.save, recursive=recursive, keep=keep
        )
        if folder:  # the dataset folder is kept apart from the inputs as --save is
            check_apart(sources, None, self.out_file, recursive=recursive, save_flag="--out")
        if self.regular_out or folder:
            hold(OutputLock(self.out_file))


def _table_limit(plan: _OutputPlan, configured: int, flag: int | None) -> int:
    """Per-image tables go to stdout when they are the results; with --out only when --tables asks."""
    if plan.tables_are_results:
        return configured
    return flag if flag is not None and plan.out_file is not None else 0


def _run_local(
    sources,
    run: DetectPlan,
    detector,
    plan: _OutputPlan,
    done,
    ray_options,
    bar: RunProgress,
    *,
    tables: int,
    resume: bool,
    labels=None,
    watch: bool = False,
    spatial=None,
):
    """Run the plan's job with its sinks, per-image tables and progress bar; returns (summary, tables hidden)."""
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.outputs.formats import open_sink
    from detect_cli.pipeline.run_summary import RunSummary
    from detect_cli.tasks.detect import run_metadata
    from detect_cli.tasks.driver import drive

    settings = run.settings
    with ExitStack() as stack:
        done, videos_done = done
        so_far = RunSummary()  # the job's summary, which the watch's and the sources' notes add to
        watching = _open_watch(sources, settings, plan, resume, bar, so_far) if watch else None
        sinks: list[Sink] = []
        if plan.out_format:
            append = resume and plan.out_file is not None and plan.out_file.exists()
            stream = (
                None
                if plan.out_format == "yolo"
                else stack.enter_context(open_results(plan.out_file, append))
                if plan.out_file
                else sys.stdout
            )
            sinks.append(
                open_sink(
                    plan.out_format,
                    stream,
                    run_metadata(settings, detector, tracker=run.tracking, video=run.video()),
                    appending=append,
                    layout=watching.layout() if watching else None,
                    out=plan.out_file,
                    labels=labels,
                )
            )
        job = run.job(
            detector,
            spatial=spatial,
            ray=ray_options,
            done=done,
            videos_done=videos_done,
            keep_pixels=any(getattr(sink, "wants_pixels", False) for sink in sinks),
            stages=(watching.watch.records,) if watching else (),
            summary_so_far=so_far,
        )
        shown = _TablePrinter(tables)

        def on_result(result: ImageResult) -> None:
            bar.advance()  # an image, or a video's frame: the bar counts frames when it has videos
            if not result.ok:
                warn(f"{result.source}: {result.error}")
            for warning in result.warnings:
                note(f"{result.source}: {warning}")
            for kind, why in result.unsaved:  # a file not saved is a failure (exit 3)
                warn(f"{result.source}: {kind.value}: {why}")
            shown(result)

        items = (
            watching.watch
            if watching
            else iter_sources(sources, recursive=settings.recursive, stdin=sys.stdin, on_skip=_skip_notes(so_far))
        )
        summary = drive(job, items, sinks, on_result).summary
        say_notes(sinks)
        return summary, shown.hidden


def _finish(summary, detector, *, quiet: bool, tables_are_results: bool, imgsz: int | None = None) -> None:
    """The run's summary tables (stdout beside the per-image tables, else stderr; none with --quiet),
    then the exit code: an image whose annotated copy could not be written counts as a failure
    (exit 3), its detections kept."""
    not_saved = summary.unsaved
    if not quiet:
        console = out() if tables_are_results else err()
        console.print(render.counts_table(summary))
        if summary.videos:
            console.print(render.videos_table(summary))
        for table in render.zones_tables(summary):
            console.print(table)
        console.print(render.run_table(summary, detector.ref.spec, render.backend_text(detector), imgsz))
        if summary.failed:
            console.print(render.failures_table(summary))
        if not_saved:
            console.print(_unsaved_table(not_saved))
    if summary.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if summary.failed or not_saved:
        raise typer.Exit(int(ExitCode.INPUTS_FAILED))


def _unsaved_table(rows: list[tuple[str, str]]) -> Table:
    table = Table(
        title=f"Not saved ({len(rows)}; detections kept in the results)", title_justify="left", title_style="red"
    )
    table.add_column("input", overflow="fold")
    table.add_column("warning", overflow="fold")
    for source, warning in rows:
        table.add_row(Text(source), Text(warning))
    return table


class _TablePrinter:
    """Prints per-image tables for the first `limit` images (-1: all), so big runs don't flood."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count, self.hidden = limit, 0, False

    def __call__(self, result: ImageResult) -> None:
        if not result.ok or result.frame is not None:  # a video gets its summary at the end, not a table a frame
            return
        self.count += 1
        if self.limit < 0 or self.count <= self.limit:
            out().print(render.boxes_table(result))
        elif self.limit > 0:
            self.hidden = True


def _open_watch(sources, settings, plan: _OutputPlan, resume: bool, bar: RunProgress, summary):
    def gone(path: str, why: str) -> None:
        summary.skipped.append((path, why))
        note(f"{path}: {why}")

    return open_watch(
        sources,
        recursive=settings.recursive,
        out_file=plan.out_file,
        resume=resume,
        bar=bar,
        on_skip=_skip_notes(summary),
        on_gone=gone,
    )


def _skip_notes(summary):
    def on_skip(ref: str, reason: str) -> None:
        summary.skipped.append((ref, reason))
        if len(summary.skipped) <= 5:
            note(f"skipping {ref}: {reason}")
        elif len(summary.skipped) == 6:
            note("skipping more non-image files (listed in the summary of --format json)")

    return on_skip


def _run_sharded(sources, settings, detector, out_dir: Path, ray_options):
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.open import predict_options, read_options
    from detect_cli.pipeline.ray.driver import ray_detect_to_shards
    from detect_cli.pipeline.slicing import slice_options
    from detect_cli.tasks.detect import run_metadata

    summary = ray_detect_to_shards(
        iter_sources(sources, recursive=settings.recursive, stdin=sys.stdin),
        detector,
        predict_options(settings, detector),
        out_dir,
        read_options=read_options(settings),
        batch=settings.batch,
        ray_options=ray_options,
        metadata=run_metadata(settings, detector),
        slicing=slice_options(settings),
    )
    note(f"sharded results and manifest.json written to {out_dir}")
    return summary


def _prepare_out_file(
    out_file,
    out_format,
    settings,
    detector,
    *,
    resume: bool,
    retry_failed: bool,
    video,
    tracker: str | None,
    watch: bool = False,
) -> tuple[dict[int, str], dict[int, tuple[int, int]]]:
    """Record the run's settings beside a JSONL/CSV file; with --resume, check and repair it first.
    Returns index -> source of the inputs already in the file, and index -> (last frame, largest
    track id) of the videos cut short. Devices and FIFOs get no sidecar."""
    from detect_cli.outputs.guards import is_regular_target
    from detect_cli.tasks.resume import RESUMABLE, fingerprint, prepare_resume, write_sidecar

    if out_file is None or out_format not in RESUMABLE:
        if resume:
            raise ConfigError(f"--resume works with JSONL or CSV output, not {out_format}", "use --out results.jsonl")
        return {}, {}
    if not is_regular_target(out_file):
        if resume:
            raise ConfigError(f"--resume needs a regular results file, not {out_file}")
        return {}, {}
    fp = {
        **fingerprint(settings, detector),
        **video.fingerprint(),
        **({"tracker": tracker} if tracker else {}),
        **({"watch": True} if watch else {}),
    }
    if resume and out_file.exists():
        state = prepare_resume(out_file, out_format, fp, retry_failed=retry_failed)
        repaired = " (repaired a cut last record)" if state.dropped_partial else ""
        retried = f", {state.retried} failed to run again" if state.retried else ""
        videos = f", {len(state.videos)} video(s) continued after their last frame" if state.videos else ""
        note(f"resuming {out_file}: {state.kept - len(state.videos)} input(s) already done{videos}{retried}{repaired}")
        return state.done, state.videos
    with open_results(out_file, append=True):  # can it be written? Else the old sidecar stays as it was
        pass
    write_sidecar(out_file, fp, out_format)
    return {}, {}
