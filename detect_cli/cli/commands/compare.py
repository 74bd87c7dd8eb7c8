"""`attn-detect compare`: several models on the same images, one table."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, own_files, settings_from_flags
from detect_cli.cli.completion import complete_models
from detect_cli.cli.console import EXIT_CODES_HELP, error, exit_with, handle_errors, hold, note, set_output, warn
from detect_cli.cli.destination import Destination
from detect_cli.cli.progress import RunProgress, wanted
from detect_cli.core.errors import AttnDetectError, ExitCode

app = typer.Typer()

Models = Annotated[
    list[str],
    typer.Option(
        "--models",
        "-m",
        help="Models to compare: comma-separated and/or repeated (-m demo -m yolo26n.yaml).",
        autocompletion=complete_models,
    ),
]
Labels = Annotated[
    Optional[Path], typer.Option(help="COCO JSON or YOLO txt folder: adds mAP50, mAP50-95, precision, recall.")
]
SliceFor = Annotated[
    Optional[list[str]],
    typer.Option(
        help="Slice only these models (their place in --models from 1, or name; repeatable), so one model "
        "runs with and without slicing side by side: -m demo -m demo --slice-for 2. Implies --slice auto "
        "unless --slice is given. Without it, --slice slices every model."
    ),
]
Warmup = Annotated[int, typer.Option(help="Warm-up runs per model before timing (reported apart).", min=0)]


@app.command(epilog=EXIT_CODES_HELP, cls=opt.GroupedCommand)
@handle_errors
def compare(
    sources: opt.Sources,
    models: Models,
    labels: Labels = None,
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
    slice_for: SliceFor = None,
    warmup: Warmup = 1,
    fmt: opt.Format = None,
    as_json: opt.Json = False,
    out_file: opt.Out = None,
    save: opt.Save = None,
    worst: opt.Worst = opt.WORST,
    matrix_conf: opt.MatrixConf = None,
    matrix_iou: opt.MatrixIou = opt.MATRIX_IOU,
    config: opt.Config = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    progress: opt.ShowProgress = None,
) -> None:
    """Run several models on the same images: speed, counts, agreement, and mAP with --labels.

    With --labels and --save DIR: each model's curves, confusion matrix, TIDE errors and worst images, and
    per error type the errors one model makes and the other does not (numbers also in --format json)."""
    from detect_cli.evaluation.metrics import Labels as LabelSet
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.open import read_options
    from detect_cli.tasks.compare import (
        COMPARE,
        CompareJob,
        check_models,
        contender,
        recorded_settings,
        shown_names,
        sliced_positions,
    )
    from detect_cli.tasks.driver import drive

    set_output(quiet=quiet, verbose=verbose)
    specs = [s.strip() for item in models for s in item.split(",") if s.strip()]
    check_models(specs)
    destination = Destination.from_flags(fmt.value if fmt else None, as_json, out_file)
    settings = settings_from_flags(
        config,
        backend=backend.value if backend else None,
        precision=precision.value if precision else None,
        calibration=calibration,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        max_det=max_det,
        device=device,
        half=half,
        nms=nms,
        letterbox=letterbox.value if letterbox else None,
        threads=threads,
        recursive=recursive,
        **opt.slice_flags(
            slice_ or ("auto" if slice_for else None),
            slice_overlap,
            slice_full,
            slice_merge,
            slice_match,
            max_det_image=max_det_image,
        ),
    )
    sliced_at = sliced_positions(specs, slice_for, settings.slice is not None)
    destination.claim(sources, save, recursive=settings.recursive, keep=own_files(config, specs))
    label_file = LabelSet.read(labels) if labels else None  # a bad label file is reported before a model loads

    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.count(sources, recursive=settings.recursive)
    contenders, failed_models = [], []
    names = shown_names([spec + ("+slice" if n in sliced_at else "") for n, spec in enumerate(specs)])
    for n, spec in enumerate(specs):
        name = names[n]
        bar.loading(f"{spec} ({n + 1}/{len(specs)})")
        try:
            _, detector = open_detector(
                replace(settings, model=spec),
                weights_dir=weights_dir,
                verbose=verbose,
                iou_given=iou is not None,
                trust_model=trust_model,
                status=bar.status,
                sources=sources,
                truth=label_file.lookup if label_file else None,
            )
        except AttnDetectError as exc:
            error(f"model {name}: {exc}")
            failed_models.append((name, str(exc)))
            continue
        contenders.append(contender(name, detector, settings, sliced=n in sliced_at, scored=labels is not None))
    if not contenders:
        raise typer.Exit(int(ExitCode.MODEL))
    label_sets = [label_file.for_model(c.detector.names) for c in contenders] if label_file else None
    job = CompareJob(
        contenders,
        label_sets,
        settings.conf,
        read_options(settings),
        warmup,
        save,
        failed_models,
        recorded_settings(settings, settings.imgsz, str(labels) if labels else None, sliced=bool(sliced_at)),
        analysis_options={"worst": worst, "matrix_conf": matrix_conf, "matrix_iou": matrix_iou}
        if labels is not None and (save is not None or destination.fmt == "json")
        else None,
    )
    sink = destination.open(COMPARE, {"command": "compare", "models": [c.name for c in contenders]})
    bar.start("comparing")

    def heard(record: dict) -> None:
        first = next(iter(record["models"].values()))
        if first["status"] == "error":
            warn(f"{record['source']}: {first['error']}")
        bar.advance()

    outcome = drive(
        job,
        iter_sources(sources, recursive=settings.recursive, stdin=sys.stdin),
        [sink] if sink is not None else [],
        heard,
    )
    report = outcome.summary
    console = destination.tables(quiet)
    if console is not None:
        for table in render.comparison_tables(report):
            console.print(table)
        analysis = job.analysis()
        for table in render.differences_tables(analysis) if analysis is not None else []:
            console.print(table)
    unsaved = len(job.warnings)
    if save is not None:
        try:
            note(f"side-by-side images and {job.write_page(report).name} written to {save}")
        except OSError as exc:
            warn(f"side-by-side images written to {save}, but not its index.html: {exc}")
    for source, message in job.warnings:
        warn(f"{source}: {message}")
    exit_with(replace(outcome, incomplete=True) if len(job.warnings) > unsaved else outcome)
