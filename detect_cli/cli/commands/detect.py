"""`attn-detect detect`: its flags mapped onto a `DetectPlan` (tasks/plan.py, where every rule and
decision lives), the plan run (tasks/detect_run.py), the run shown (cli/detect_view.py), and the one exit
path every command takes (`exit_with`).
"""

from __future__ import annotations

import typer

from detect_cli.cli import options as opt
from detect_cli.cli.common import open_detector, own_files, settings_from_flags
from detect_cli.cli.console import EXIT_CODES_HELP, exit_with, handle_errors, hold, set_output
from detect_cli.cli.destination import data_format
from detect_cli.cli.progress import RunProgress, wanted

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
    from detect_cli.cli import detect_view as view
    from detect_cli.tasks.detect_run import run_plan
    from detect_cli.tasks.plan import DetectPlan, spatial_flags

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
    plan = DetectPlan(
        settings,
        sources=tuple(sources),
        format=data_format(fmt.value if fmt else None, as_json),
        out=out,
        save=save,
        attention=attention,
        track=track,
        tracker=tracker.value,
        count_line=count_line,
        heatmap=heatmap,
        vid_stride=vid_stride,
        start=start,
        end=end,
        resume=resume,
        retry_failed=retry_failed,
        watch=watch,
        save_conf=save_conf,
        image_root=image_root,
        ray=engine == opt.Engine.ray,
        address=address,
        actors=actors,
        gpus_per_actor=gpus_per_actor,
        verbose=verbose,
    ).validate()
    hold(plan.claim(keep=own_files(config, settings.model)))
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    if plan.counts_inputs:
        bar.count(sources, recursive=settings.recursive, video=plan.video())
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
    plan = plan.opened(settings)  # imgsz as it runs
    shown = view.TablePrinter(plan.output.table_limit(settings.tables, tables))
    outcome = run_plan(plan, detector, sources, view.on_result(bar, shown), view.listener(bar))
    view.after_run(plan, outcome.summary, shown, quiet=quiet)
    if not quiet:
        view.summary_tables(
            outcome.summary,
            detector,
            settings.imgsz,
            to_stdout=plan.output.tables_are_results,
            letterbox=settings.letterbox,
        )
    exit_with(outcome)
