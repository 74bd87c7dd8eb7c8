"""`attn-detect compare`: several models on the same images, one table."""

from __future__ import annotations

import csv
import json
import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import IO, Annotated, Optional

import typer

from detect_cli.cli import options as opt
from detect_cli.cli import render
from detect_cli.cli.common import open_detector, settings_from_flags
from detect_cli.cli.completion import complete_models
from detect_cli.cli.output import EXIT_CODES_HELP, State, err, error, handle_errors, hold, note, out, warn
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
SliceFor = Annotated[
    Optional[list[str]],
    typer.Option(help="Slice only these models (their place in --models from 1, or name; repeatable), so one model "
                 "runs with and without slicing side by side: -m demo -m demo --slice-for 2. Implies --slice auto "
                 "unless --slice is given. Without it, --slice slices every model."),
]
Warmup = Annotated[int, typer.Option(help="Warm-up runs per model before timing (reported apart).", min=0)]
CompareFormat = Annotated[
    Optional[str],
    typer.Option("--format", "-f", help="json (the report), jsonl (per image, as it goes) or csv (one row per model)."),
]
MAP_CONF = 0.001
CSV_KEYS = (
    "name", "spec", "family", "head", "params_m", "gflops", "file_mb", "load_s", "warmup_ms", "images", "failed",
    "detections", "preprocess_mean", "inference_mean", "postprocess_mean", "total_p50", "total_p95",
    "images_per_s", "map50", "map50_95", "precision", "recall",
)  # fmt: skip


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
    slice_: opt.Slice = None,
    slice_overlap: opt.SliceOverlap = None,
    slice_full: opt.SliceFull = None,
    slice_merge: opt.SliceMerge = None,
    slice_match: opt.SliceMatch = None,
    slice_for: SliceFor = None,
    warmup: Warmup = 1,
    fmt: CompareFormat = None,
    as_json: opt.Json = False,
    out_file: opt.Out = None,
    save: opt.Save = None,
    config: opt.Config = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    progress: opt.ShowProgress = None,
) -> None:
    """Run several models on the same images: speed, counts, agreement, and mAP with --labels."""
    from detect_cli.compare import ComparisonRun, Contender, compare_stream, comparison_report, warm_up
    from detect_cli.evaluation import Labels as LabelSet
    from detect_cli.job import predict_options, read_options
    from detect_cli.saving import ImageSaver
    from detect_cli.slicing import SlicedDetector, slice_options
    from detect_cli.sources import iter_sources
    from detect_cli.ultralytics_env import torch_threads

    State.quiet, State.verbose = quiet, verbose
    specs = [s.strip() for item in models for s in item.split(",") if s.strip()]
    if len(specs) < 2:
        raise ConfigError("compare needs at least two models", "pass --models a,b or repeat -m")
    data_format = "json" if as_json else fmt
    if out_file is not None and data_format is None:
        data_format = {".json": "json", ".jsonl": "jsonl", ".csv": "csv"}.get(out_file.suffix.lower())
    if data_format not in {None, "json", "jsonl", "csv"}:
        raise ConfigError(f"compare cannot write '{data_format or out_file}'", "use json, jsonl or csv")
    settings = settings_from_flags(
        config, backend=backend.value if backend else None, conf=conf, iou=iou, imgsz=imgsz, max_det=max_det,
        device=device, half=half, nms=nms,
        threads=threads, recursive=recursive,
        **opt.slice_flags(slice_ or ("auto" if slice_for else None), slice_overlap, slice_full, slice_merge,
                          slice_match),
    )  # fmt: skip
    sliced_at = _sliced_positions(specs, slice_for, settings.slice is not None)

    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.count(sources, recursive=settings.recursive)
    contenders, failed_models = [], []
    shown = [spec + ("+slice" if n in sliced_at else "") for n, spec in enumerate(specs)]
    for n, spec in enumerate(specs):
        label = shown[n]
        name = label if label not in shown[:n] else f"{label}#{shown[:n].count(label) + 1}"  # same model twice is fine
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
        if n in sliced_at:
            detector = SlicedDetector(detector, slice_options(settings), settings.batch)
        contenders.append(Contender(name, detector, replace(options, conf=MAP_CONF) if labels else options))
    if not contenders:
        raise typer.Exit(int(ExitCode.MODEL))
    label_sets = [LabelSet.load(labels, c.detector.names) for c in contenders] if labels else None
    run = ComparisonRun(contenders, label_sets, conf=settings.conf)
    saver = ImageSaver(save) if save else None
    grids: list[tuple[str, Path]] = []  # (input, its side-by-side image): the index.html pictures

    with ExitStack() as stack:
        stream_out: IO[str] = sys.stdout
        if out_file is not None:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            stream_out = stack.enter_context(open(out_file, "w", encoding="utf-8", newline=""))
        warmups: dict[str, float] = {}
        bar.start("comparing")
        try:
            for item in compare_stream(iter_sources(sources, recursive=settings.recursive, stdin=sys.stdin),
                                       contenders, read_options(settings)):  # fmt: skip
                if not warmups and item.image is not None and warmup:
                    warmups = warm_up(contenders, item.image, warmup)
                run.add(item)
                if not item.ok:
                    warn(f"{item.source.ref}: {item.results[0].error}")
                if data_format == "jsonl":
                    stream_out.write(json.dumps(_image_line(item, contenders)) + "\n")
                    stream_out.flush()
                if saver and item.image is not None:
                    grids.append((item.source.ref, saver.save(item.source.name, _grid(item, contenders, run))))
                bar.advance()
        except KeyboardInterrupt:
            warn("interrupted: the report covers the images done so far")
        threads_used = torch_threads()
        report = comparison_report(run, warmups, failed_models, {
            "images": run.stats[0].images + run.stats[0].failed, "imgsz": settings.imgsz, "conf": settings.conf,
            "device": settings.device, "threads": threads_used, "labels": str(labels) if labels else None,
            "slice": slice_options(settings).describe() if sliced_at else None,
        })  # fmt: skip
        if data_format == "json":
            stream_out.write(json.dumps(report) + "\n")
        elif data_format == "csv":
            writer = csv.DictWriter(stream_out, fieldnames=CSV_KEYS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(report["models"])
    if not quiet or data_format is None:  # the tables are the results, else a summary for people on stderr
        console = out() if data_format is None else err()
        for table in render.comparison_tables(report):
            console.print(table)
    if save is not None:
        from detect_cli.report import comparison_page

        try:
            note(f"side-by-side images and {comparison_page(save, report, grids).name} written to {save}")
        except OSError as exc:
            warn(f"side-by-side images written to {save}, but not its index.html: {exc}")
    if failed_models or run.failures:
        raise typer.Exit(int(ExitCode.INPUTS_FAILED))


def _sliced_positions(specs: list[str], slice_for: list[str] | None, slicing: bool) -> set[int]:
    """Which models (0-based) run sliced: those --slice-for names (place from 1, or name), else all with --slice."""
    if not slicing:
        return set()
    if not slice_for:
        return set(range(len(specs)))
    chosen = set()
    for item in (s.strip() for entry in slice_for for s in entry.split(",") if s.strip()):
        if item.isdigit() and 1 <= int(item) <= len(specs):
            chosen.add(int(item) - 1)
        elif item in specs:
            chosen.update(n for n, spec in enumerate(specs) if spec == item)
        else:
            raise ConfigError(f"--slice-for {item}: not one of the models ({', '.join(specs)})",
                              f"give a model's place (1 to {len(specs)}) or its name")  # fmt: skip
    return chosen


def _image_line(item, contenders) -> dict:
    from detect_cli.results import image_record

    return {
        "index": item.index,
        "source": item.source.ref,
        "models": {c.name: image_record(r) for c, r in zip(contenders, item.results)},
    }


def _grid(item, contenders, run):
    from detect_cli.annotate import BoxAnnotator, captioned, side_by_side

    annotator = BoxAnnotator()
    panels = []
    for c, result in zip(contenders, item.results):
        shown = run.above_conf(result)
        ms = sum((shown.timing.preprocess, shown.timing.inference, shown.timing.postprocess))
        caption = f"{c.name}  {len(shown.detections)} det  {ms:.0f} ms" if shown.ok else f"{c.name}  failed"
        panels.append(captioned(annotator.annotate(item.image, shown.detections, shown.names), caption))
    return side_by_side(panels)
