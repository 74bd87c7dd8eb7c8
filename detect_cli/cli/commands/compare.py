"""`attn-detect compare`: several models on the same images, one table."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, settings_from_flags
from detect_cli.cli.completion import complete_models
from detect_cli.cli.destination import Destination
from detect_cli.cli.output import EXIT_CODES_HELP, State, error, handle_errors, hold, note, warn
from detect_cli.cli.progress import RunProgress, wanted
from detect_cli.errors import AttnDetectError, ConfigError, ExitCode

app = typer.Typer()

Models = Annotated[
    list[str],
    typer.Option(
        "--models", "-m", help="Models to compare: comma-separated and/or repeated (-m demo -m yolo26n.yaml).",
        autocompletion=complete_models,
    ),
]
Labels = Annotated[
    Optional[Path], typer.Option(help="COCO JSON or YOLO txt folder: adds mAP50, mAP50-95, precision, recall.")
]
Warmup = Annotated[int, typer.Option(help="Warm-up runs per model before timing (reported apart).", min=0)]
MAP_CONF = 0.001


@app.command(epilog=EXIT_CODES_HELP)
@handle_errors
def compare(
    sources: opt.Sources,
    models: Models,
    labels: Labels = None,
    weights_dir: opt.WeightsDir = None,
    backend: opt.Backend = None,
    trust_model: opt.TrustModel = False,
    conf: opt.Conf = None,
    iou: opt.Iou = None,
    imgsz: opt.Imgsz = None,
    max_det: opt.MaxDet = None,
    device: opt.Device = None,
    half: opt.Half = None,
    nms: opt.Nms = None,
    threads: opt.Threads = None,
    recursive: opt.Recursive = None,
    warmup: Warmup = 1,
    fmt: opt.Format = None,
    as_json: opt.Json = False,
    out_file: opt.Out = None,
    save: opt.Save = None,
    config: opt.Config = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    progress: opt.ShowProgress = None,
) -> None:
    """Run several models on the same images: speed, counts, agreement, and mAP with --labels."""
    from detect_cli.compare import COMPARE, CompareJob, Contender
    from detect_cli.evaluation import Labels as LabelSet
    from detect_cli.job import predict_options, read_options
    from detect_cli.sources import iter_sources

    State.quiet, State.verbose = quiet, verbose
    specs = [s.strip() for item in models for s in item.split(",") if s.strip()]
    if len(specs) < 2:
        raise ConfigError("compare needs at least two models", "pass --models a,b or repeat -m")
    destination = Destination.from_flags(fmt.value if fmt else None, as_json, out_file)
    settings = settings_from_flags(
        config, backend=backend.value if backend else None, conf=conf, iou=iou, imgsz=imgsz, max_det=max_det,
        device=device, half=half, nms=nms, threads=threads, recursive=recursive,
    )  # fmt: skip
    destination.claim(sources, save, recursive=settings.recursive)

    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.count(sources, recursive=settings.recursive)
    contenders, failed_models = [], []
    for n, spec in enumerate(specs):
        name = spec if spec not in specs[:n] else f"{spec}#{specs[:n].count(spec) + 1}"  # same model twice is fine
        bar.loading(f"{spec} ({n + 1}/{len(specs)})")
        try:
            _, detector = open_detector(replace(settings, model=spec), weights_dir=weights_dir, verbose=verbose,
                                        iou_given=iou is not None, trust_model=trust_model,
                                        status=bar.status)  # fmt: skip
        except AttnDetectError as exc:
            error(f"model {name}: {exc}")
            failed_models.append((name, str(exc)))
            continue
        options = predict_options(settings, detector)
        contenders.append(Contender(name, detector, replace(options, conf=MAP_CONF) if labels else options))
    if not contenders:
        raise typer.Exit(int(ExitCode.MODEL))
    label_sets = [LabelSet.load(labels, c.detector.names) for c in contenders] if labels else None
    job = CompareJob(contenders, label_sets, settings.conf, read_options(settings), warmup, save, failed_models,
                     {"imgsz": settings.imgsz, "conf": settings.conf, "device": settings.device,
                      "labels": str(labels) if labels else None})  # fmt: skip
    sink = destination.open(COMPARE, {"command": "compare", "models": specs})
    bar.start("comparing")
    try:
        for record in job.records(iter_sources(sources, recursive=settings.recursive, stdin=sys.stdin)):
            first = next(iter(record["models"].values()))
            if first["status"] == "error":
                warn(f"{record['source']}: {first['error']}")
            if sink is not None:
                sink.write(record)
            bar.advance()
    except KeyboardInterrupt:
        warn("interrupted: the report covers the images done so far")
    for source, message in job.warnings:
        warn(f"{source}: {message}")
    report = job.summary()
    if sink is not None:
        sink.close(report)
    console = destination.tables(quiet)
    if console is not None:
        for table in render.comparison_tables(report):
            console.print(table)
    if save is not None:
        try:
            note(f"side-by-side images and {job.write_page(report).name} written to {save}")
        except OSError as exc:
            warn(f"side-by-side images written to {save}, but not its index.html: {exc}")
    if failed_models or job.run.failures or job.warnings:
        raise typer.Exit(int(ExitCode.INPUTS_FAILED))
