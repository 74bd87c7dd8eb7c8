"""`attn-detect evaluate`: run a model on labelled images and score it (mAP, precision, recall)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, settings_from_flags
from detect_cli.cli.output import EXIT_CODES_HELP, State, handle_errors, hold, note, out, warn
from detect_cli.cli.progress import RunProgress, wanted
from detect_cli.errors import ConfigError, ExitCode

app = typer.Typer()

Labels = Annotated[Optional[Path], typer.Option(help="COCO ground-truth JSON, or a folder of YOLO .txt labels.")]
Tracks = Annotated[Optional[Path], typer.Option(
    help="Score tracking instead: MOTChallenge ground truth (gt.txt) of the one video (or folder of frames) given; "
    "prints IDF1, MOTA and ID switches (motmetrics).",
)]  # fmt: skip
MAP_CONF = 0.001  # mAP needs the whole precision-recall curve, as in Ultralytics' val


@app.command(epilog=EXIT_CODES_HELP)
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
    trust_model: opt.TrustModel = False,
    conf: opt.Conf = None,
    iou: opt.Iou = None,
    imgsz: opt.Imgsz = None,
    max_det: opt.MaxDet = None,
    device: opt.Device = None,
    batch: opt.Batch = None,
    half: opt.Half = None,
    nms: opt.Nms = None,
    threads: opt.Threads = None,
    recursive: opt.Recursive = None,
    as_json: opt.Json = False,
    config: opt.Config = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    progress: opt.ShowProgress = None,
) -> None:
    """Score a model on labelled images: mAP50, mAP50-95 (COCO), precision and recall at --conf, per class."""
    from detect_cli.evaluation import Labels as LabelSet
    from detect_cli.evaluation import Prediction, evaluate
    from detect_cli.job import DetectJob
    from detect_cli.sources import iter_sources

    State.quiet, State.verbose = quiet, verbose
    settings = settings_from_flags(
        config, model=model, backend=backend.value if backend else None, conf=conf, iou=iou, imgsz=imgsz,
        max_det=max_det, device=device, batch=batch,
        half=half, nms=nms, threads=threads, recursive=recursive,
    )  # fmt: skip
    if (labels is None) == (tracks is None):
        raise ConfigError("give --labels (boxes: mAP) or --tracks (MOT ground truth: IDF1, MOTA), one of them")
    if tracks is not None:
        _evaluate_tracks(sources, tracks, settings, tracker.value, vid_stride or 1, weights_dir=weights_dir,
                         trust_model=trust_model, as_json=as_json, progress=wanted(progress, quiet=quiet))  # fmt: skip
        return
    label_file = LabelSet.read(labels)  # a bad label file is reported before the model loads
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.count(sources, recursive=settings.recursive)
    bar.loading(settings.model)
    settings, detector = open_detector(settings, weights_dir=weights_dir, verbose=verbose, iou_given=iou is not None,
                                       trust_model=trust_model, status=bar.status)  # fmt: skip
    label_set = label_file.for_model(detector.names)
    for message in label_set.notes:
        warn(f"{labels}: {message}")

    predictions: list[Prediction] = []
    run = replace(settings, conf=min(settings.conf, MAP_CONF))

    def keep(result):
        bar.advance()
        if result.ok:
            prediction = Prediction.from_result(result)
            label_set.find(prediction)  # a malformed label file stops the run now, not after the last image
            predictions.append(prediction)
        else:
            warn(f"{result.source}: {result.error}")

    bar.start("evaluating")
    summary = DetectJob(run, detector, on_result=keep).run(iter_sources(sources, recursive=settings.recursive))
    report = evaluate(predictions, label_set, conf=settings.conf)
    if report.unlabelled:
        note(f"{len(report.unlabelled)} image(s) have no labels in {labels} and were left out")
    if as_json:
        doc = {"model": detector.ref.spec, "labels": str(labels), "conf": settings.conf, **report.as_dict(),
               "failed": summary.as_dict()["failures"]}  # fmt: skip
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        out().print(render.evaluation_table(report, detector.ref.spec, settings.conf))
    if summary.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if summary.failed:
        raise typer.Exit(int(ExitCode.INPUTS_FAILED))


def _evaluate_tracks(sources, truth: Path, settings, tracker: str, stride: int, *, weights_dir, trust_model: bool,
                     as_json: bool, progress: bool) -> None:  # fmt: skip
    """Detect and track one sequence, then score its MOT rows against `truth` on the frames that ran."""
    import io

    from detect_cli.job import DetectJob
    from detect_cli.sources import iter_sources
    from detect_cli.tracking import MotSink, read_mot, score_tracks
    from detect_cli.video import VideoOptions

    read_mot(truth)  # a bad ground-truth file is reported before the model loads
    bar = hold(RunProgress(progress))
    bar.loading(settings.model)
    settings, detector = open_detector(settings, weights_dir=weights_dir, verbose=State.verbose, iou_given=False,
                                       trust_model=trust_model, status=bar.status)  # fmt: skip
    rows = io.StringIO()
    frames: list[int] = []

    def keep(result) -> None:
        bar.advance()
        if result.ok:
            frames.append(result.frame + 1 if result.frame is not None else len(frames) + 1)
        else:
            warn(f"{result.source}: {result.error}" + (f" (frame {result.frame})" if result.frame is not None else ""))

    bar.start("tracking")
    job = DetectJob(settings, detector, [MotSink(rows)], on_result=keep, video=VideoOptions(stride=stride),
                    track=tracker)  # fmt: skip
    summary = job.run(iter_sources(sources, recursive=settings.recursive))
    scores = score_tracks(truth, rows.getvalue(), frames=frames)
    if as_json:
        doc = {"model": detector.ref.spec, "tracks": str(truth), "tracker": tracker, "frames": len(frames), **scores}
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        out().print(render.tracking_table(scores, detector.ref.spec, tracker, len(frames)))
    if summary.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if summary.failed:
        raise typer.Exit(int(ExitCode.INPUTS_FAILED))
