"""`attn-detect evaluate`: run a model on labelled images and score it (mAP, precision, recall)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, own_files, settings_from_flags
from detect_cli.cli.console import EXIT_CODES_HELP, State, exit_with, handle_errors, hold, note, set_output, warn
from detect_cli.cli.destination import Destination
from detect_cli.cli.progress import RunProgress, wanted

app = typer.Typer()

Labels = Annotated[Optional[Path], typer.Option(help="COCO ground-truth JSON, or a folder of YOLO .txt labels.")]
Tracks = Annotated[
    Optional[Path],
    typer.Option(
        help="Score tracking instead: MOTChallenge ground truth (gt.txt) of the one video (or folder of frames) given; "
        "prints IDF1, MOTA and ID switches (motmetrics).",
    ),
]


@app.command(epilog=EXIT_CODES_HELP, cls=opt.GroupedCommand)
@handle_errors
def evaluate(
    sources: opt.Sources,
    labels: Labels = None,
    tracks: Tracks = None,
    tracker: opt.Tracker = opt.TrackerName.botsort,
    vid_stride: opt.VidStride = None,
    model: opt.Model = None,
    weights_dir: opt.WeightsDir = None,
    backend: opt.Backend = None,
    precision: opt.Precision = None,
    calibration: opt.Calibration = None,
    trust_model: opt.TrustModel = False,
    conf: opt.Conf = None,
    iou: opt.Iou = None,
    imgsz: opt.Imgsz = None,
    max_det: opt.MaxDet = None,
    max_det_image: opt.MaxDetImage = None,
    device: opt.Device = None,
    batch: opt.Batch = None,
    half: opt.Half = None,
    nms: opt.Nms = None,
    letterbox: opt.Letterbox = None,
    threads: opt.Threads = None,
    recursive: opt.Recursive = None,
    slice_: opt.Slice = None,
    slice_overlap: opt.SliceOverlap = None,
    slice_full: opt.SliceFull = None,
    slice_merge: opt.SliceMerge = None,
    slice_match: opt.SliceMatch = None,
    fmt: opt.Format = None,
    as_json: opt.Json = False,
    out_file: opt.Out = None,
    save: opt.EvalSave = None,
    worst: opt.Worst = opt.WORST,
    attention: opt.FalseAttention = False,
    matrix_conf: opt.MatrixConf = None,
    matrix_iou: opt.MatrixIou = opt.MATRIX_IOU,
    config: opt.Config = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    progress: opt.ShowProgress = None,
) -> None:
    """Score a model on labelled images: mAP50, mAP50-95 (COCO), precision and recall at --conf, per class.

    With --save DIR: PR and F1 curves, the confusion matrix, TIDE's error breakdown and the worst images,
    in DIR/index.html; the numbers behind them are in --format json."""
    from detect_cli.evaluation.metrics import Labels as LabelSet
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.tasks.driver import drive
    from detect_cli.tasks.evaluate import EVALUATION, EvaluateJob, check_evaluation, evaluation_metadata

    set_output(quiet=quiet, verbose=verbose)
    destination = Destination.from_flags(fmt.value if fmt else None, as_json, out_file)
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
        half=half,
        nms=nms,
        letterbox=letterbox.value if letterbox else None,
        threads=threads,
        recursive=recursive,
        **opt.slice_flags(slice_, slice_overlap, slice_full, slice_merge, slice_match, max_det_image=max_det_image),
    )
    check_evaluation(labels, tracks, save, attention)
    destination.claim(
        sources,
        save,
        recursive=settings.recursive,
        keep=own_files(config, settings.model, ground_truth=labels or tracks),
    )
    if tracks is not None:
        _evaluate_tracks(
            sources,
            tracks,
            settings,
            tracker.value,
            vid_stride or 1,
            weights_dir=weights_dir,
            trust_model=trust_model,
            destination=destination,
            quiet=quiet,
            progress=wanted(progress, quiet=quiet),
        )
        return
    label_file = LabelSet.read(labels)  # a bad label file is reported before the model loads
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.count(sources, recursive=settings.recursive)
    bar.loading(settings.model)
    settings, detector = open_detector(
        settings,
        weights_dir=weights_dir,
        verbose=verbose,
        iou_given=iou is not None,
        trust_model=trust_model,
        status=bar.status,
        needs_torch="--attention" if attention else None,
        sources=sources,
        truth=label_file.lookup,
    )
    label_set = label_file.for_model(detector.names)
    for message in label_set.notes:
        warn(f"{labels}: {message}")

    def heard(result) -> None:
        bar.advance()
        if not result.ok:
            warn(f"{result.source}: {result.error}")

    sink = destination.open(EVALUATION, evaluation_metadata(settings, detector, str(labels)))
    bar.start("evaluating")
    analysed = save is not None or destination.fmt == "json"  # the numbers behind the pictures
    options = {"worst": worst, "matrix_conf": matrix_conf, "matrix_iou": matrix_iou}
    job = EvaluateJob(settings, detector, label_set, heard, options if analysed else None)
    outcome = drive(job, iter_sources(sources, recursive=settings.recursive), [sink] if sink else [])
    report = job.report
    if report is not None and report.unlabelled:
        note(f"{len(report.unlabelled)} image(s) have no labels in {labels} and were left out")
    if report is not None and report.run is not None and report.run.caps.bit:
        note(report.run.caps.advice())
    console = destination.tables(quiet)
    if console is not None and report is not None:
        from detect_cli.models.runtimes import display

        how = f"{display(detector.backend, detector.precision)}, {detector.letterbox_ran(settings.letterbox)} letterbox"
        console.print(render.evaluation_table(report, f"{detector.ref.spec} ({how})", settings.conf))
        if analysed:
            console.print(render.tide_table(job.analysis()))
    if save is not None and report is not None and _save_pictures(save, job, attention, str(labels)):
        outcome = replace(outcome, incomplete=True)
    exit_with(outcome)


def _save_pictures(save: Path, job, attention: bool, labels: str) -> bool:  # type: ignore[no-untyped-def]
    """Write --save's pictures and page; True when some could not be written (each one warned)."""
    from detect_cli.models.open import predict_options, read_options
    from detect_cli.tasks.evaluation_pictures import attention_explainer, save_evaluation

    explain = attention_explainer(job.detector, predict_options(job.settings, job.detector)) if attention else None
    about = {"model": job.detector.ref.spec, "labels": labels, "conf": job.settings.conf}
    try:
        page, warnings = save_evaluation(
            save,
            job.report,
            job.analysis(),
            job.detector.names,
            about,
            read_options=read_options(job.settings),
            explain=explain,
        )
    except OSError as exc:
        warn(f"--save {save}: the page could not be written: {exc}")
        return True
    for source, message in warnings:
        warn(f"{source}: {message}")
    note(f"evaluation pictures and {page.name} written to {save}")
    return bool(warnings)


def _evaluate_tracks(
    sources,
    truth: Path,
    settings,
    tracker: str,
    stride: int,
    *,
    weights_dir,
    trust_model: bool,
    destination: Destination,
    quiet: bool,
    progress: bool,
) -> None:
    """Detect and track one sequence, then score its MOT rows against `truth` on the frames that ran."""
    from detect_cli.evaluation.track_scores import undefined
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.inputs.video import VideoOptions
    from detect_cli.tasks.track_evaluation import evaluate_tracks, read_truth

    truth_rows = read_truth(truth)  # a bad ground-truth file is reported before the model loads
    bar = hold(RunProgress(progress))
    bar.count(sources, recursive=settings.recursive, video=VideoOptions(stride=stride))
    bar.loading(settings.model)
    settings, detector = open_detector(
        settings,
        weights_dir=weights_dir,
        verbose=State.verbose,
        iou_given=False,
        trust_model=trust_model,
        status=bar.status,
        sources=sources,
    )

    def heard(result) -> None:
        bar.advance()
        if not result.ok:
            warn(f"{result.source}: {result.error}" + (f" (frame {result.frame})" if result.frame is not None else ""))

    bar.start("tracking")
    scored = evaluate_tracks(
        settings,
        detector,
        truth_rows,
        iter_sources(sources, recursive=settings.recursive),
        truth_name=str(truth),
        tracker=tracker,
        stride=stride,
        on_result=heard,
    )
    for why in undefined(scored.scores):
        warn(why)
    sink = destination.open(scored.layout, {"command": "evaluate"})
    if sink is not None:
        sink.write(scored.record)
        sink.close(scored.outcome.summary)
    console = destination.tables(quiet)
    if console is not None:
        console.print(render.tracking_table(scored.scores, detector.ref.spec, tracker, scored.frames))
    exit_with(scored.outcome)
