"""`attn-detect evaluate`: run a model on labelled images and score it (mAP, precision, recall)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, settings_from_flags
from detect_cli.cli.output import EXIT_CODES_HELP, State, handle_errors, hold, note, out, warn
from detect_cli.cli.progress import RunProgress, wanted
from detect_cli.errors import ExitCode

app = typer.Typer()

Labels = Annotated[Path, typer.Option(help="COCO ground-truth JSON, or a folder of YOLO .txt labels.")]
MAP_CONF = 0.001  # mAP needs the whole precision-recall curve, as in Ultralytics' val


@app.command(epilog=EXIT_CODES_HELP)
@handle_errors
def evaluate(
    sources: opt.Sources,
    labels: Labels,
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
    slice_: opt.Slice = None,
    slice_overlap: opt.SliceOverlap = None,
    slice_full: opt.SliceFull = None,
    slice_merge: opt.SliceMerge = None,
    slice_match: opt.SliceMatch = None,
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
        **opt.slice_flags(slice_, slice_overlap, slice_full, slice_merge, slice_match),
    )  # fmt: skip
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
