"""`attn-detect export`: export a model, verify it against PyTorch, say how to use it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from detect_cli.cli import options as opt
from detect_cli.cli.console import EXIT_CODES_HELP, exit_with, handle_errors, hold, note, set_output, warn
from detect_cli.cli.destination import Destination
from detect_cli.cli.progress import RunProgress, wanted

app = typer.Typer()

ModelArg = Annotated[str, typer.Argument(help="Alias (yolo26n, rtdetr-l, demo, ...), .pt checkpoint or model YAML.")]
To = Annotated[str, typer.Option("--to", "-t", help="onnx, torchscript, openvino or ncnn.")]
Dir = Annotated[Path, typer.Option("--dir", "-d", help="Folder for the exported model.")]
EXPORT_FORMATS = ("onnx", "torchscript", "openvino", "ncnn")


@app.command(epilog=EXIT_CODES_HELP, cls=opt.GroupedCommand)
@handle_errors
def export(
    model: ModelArg,
    to: To = "onnx",
    imgsz: opt.Imgsz = None,
    half: Annotated[bool, typer.Option(help="FP16 weights.")] = False,
    int8: Annotated[
        bool,
        typer.Option(
            help="INT8 OpenVINO model, quantized here with NNCF and written only if it passes the accuracy gate "
            "against FP32 on held-out images (--calibration or --data; generated scenes for the demo models)."
        ),
    ] = False,
    dynamic: Annotated[bool, typer.Option(help="Dynamic input shapes.")] = False,
    data: Annotated[
        Optional[str], typer.Option(help="--int8: an Ultralytics dataset YAML whose val (or train) images calibrate.")
    ] = None,
    calibration: Annotated[
        Optional[str], typer.Option(help="--int8: images to calibrate on (folder, glob or file).", show_default=False)
    ] = None,
    device: opt.Device = None,
    out_dir: Dir = Path("exported"),
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Compare with the PyTorch model.")] = True,
    verify_images: Annotated[
        Optional[list[str]], typer.Option(help="Images for the check (default: samples that suit the model).")
    ] = None,
    conf: opt.Conf = None,
    weights_dir: opt.WeightsDir = None,
    trust_model: opt.TrustModel = False,
    fmt: Annotated[
        Optional[str],
        typer.Option(
            "--format",
            "-f",
            show_default=False,
            help=("The report: table, json, jsonl or csv (to stdout, or to --out). The export format is --to."),
        ),
    ] = None,
    as_json: opt.Json = False,
    out_file: Annotated[
        Optional[str],
        typer.Option(
            "--out", "-o", help=("Write the report to FILE (.json/.jsonl/.csv). The exported model goes to --dir.")
        ),
    ] = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    config: opt.Config = None,
    progress: opt.ShowProgress = None,
) -> None:
    """Export a model to ONNX/OpenVINO/TorchScript/NCNN and prove it matches the PyTorch model."""
    from detect_cli.core.settings import load_settings
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.export import check_export_args
    from detect_cli.models.lookup import resolve_model, weights_dirs
    from detect_cli.outputs.guards import check_folder
    from detect_cli.tasks.driver import drive
    from detect_cli.tasks.export import EXPORT, ExportJob, calibration_paths_for, calibration_source, verdict

    set_output(quiet=quiet, verbose=verbose)
    to, out_dir, report_file = _older_spellings(to, fmt, out_dir, out_file)
    destination = Destination.from_flags(None if fmt in EXPORT_FORMATS else fmt, as_json, report_file)
    settings = load_settings(config, {"imgsz": imgsz, "device": device, "conf": conf})
    dev = "" if settings.device == "auto" else settings.device
    spec = check_export_args(to, half=half, int8=int8, data=data, device=dev, dynamic=dynamic)
    calibration_paths, calibration_from = calibration_paths_for(int8, calibration, data)
    check_folder(out_dir, "--dir", "pass a folder for the exported model")
    destination.claim([model, *(verify_images or [])])
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.loading(model)
    original = load_detector(
        resolve_model(model, weights_dirs(weights_dir, settings.weights_dir)),
        device=dev or "cpu",
        verbose=verbose,
        trusted=trust_model,
    )
    for message in original.notes:
        warn(message)
    imgsz, resized = original.run_imgsz(settings.imgsz)
    if resized:
        warn(resized)
    job = ExportJob(
        original,
        spec,
        out_dir,
        imgsz,
        PredictOptions(conf=settings.conf, max_det=settings.max_det),
        half=half,
        int8=int8,
        dynamic=dynamic,
        device=dev or "cpu",
        trusted=trust_model,
        verify=verify,
        verify_images=verify_images,
        status=lambda message: bar.status(message, quiet=True),
        track=lambda images: _tracked(bar, images),
        calibration=calibration_source(original, calibration_paths, calibration_from, imgsz, settings, warn)
        if int8
        else None,
    )
    sink = destination.open(EXPORT, {"command": "export"})
    outcome = drive(job, (), [sink] if sink is not None else [])
    if outcome.interrupted:
        exit_with(outcome)  # nothing finished to show
    record = job.record
    if record["renamed"]:
        note(f"{out_dir / Path(record['path']).name} is a new name: an export of that model was there already, kept")
    console = destination.tables(quiet)
    if console is not None:
        _render(record, console)
    warnings, failed = verdict(record)
    for message in warnings:
        warn(message)
    if not failed and not quiet:
        note(f"next: attn-detect detect IMAGE --model {record['path']} --imgsz {imgsz}")
    exit_with(replace(outcome, failed=failed))


def _tracked(bar, images):
    bar.start("verifying against PyTorch", total=len(images))
    return bar.tracked(images)


def _older_spellings(to: str, fmt: str | None, out_dir: Path, out_file: str | None) -> tuple[str, Path, Path | None]:
    """`--format onnx` and `--out DIR` meant the export's format and folder before every command shared
    --format/--out for its report: still understood, with a note."""
    if fmt in EXPORT_FORMATS:
        note(f"--format {fmt} names the report's format now; taking it as --to {fmt}")
        to = fmt
    if out_file is not None and Path(out_file).suffix.lower() not in {".json", ".jsonl", ".ndjson", ".csv"}:
        note(f"--out {out_file} names the report file now; taking it as --dir {out_file} for the exported model")
        return to, Path(out_file), None
    return to, out_dir, Path(out_file) if out_file is not None else None


def _render(report: dict, console: Console) -> None:
    if report["path"]:
        size = report["bytes"] / 2**20
        console.print(Text.assemble("exported ", (report["path"], "bold"), f"  ({size:.1f} MB)"))
    check = report.get("verification")
    if not check:
        return
    table = Table(title="Verification against the PyTorch model", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("images", str(check["images"]))
    table.add_row("detections (PyTorch / export)", f"{check['detections_original']} / {check['detections_exported']}")
    table.add_row("matched (class, IoU >= 0.5)", str(check["matched"]))
    table.add_row("agreement F1", f"{check['f1']:.4f}  (min {check['tolerance']['min_f1']})")
    table.add_row(
        "max confidence difference", f"{check['max_conf_diff']:.5f}  (max {check['tolerance']['max_conf_diff']})"
    )
    table.add_row("ms/image PyTorch", f"{check['ms_per_image_original']:.1f}")
    table.add_row("ms/image export", f"{check['ms_per_image_exported']:.1f}")
    table.add_row("result", Text("PASS" if check["passed"] else "FAIL", style="green" if check["passed"] else "red"))
    console.print(table)
    if report.get("int8"):
        _render_int8(report["int8"], console)


def _render_int8(figures: dict, console: Console) -> None:
    gate = figures["int8"]
    rules = gate["gate"]
    table = Table(title="INT8 accuracy gate against FP32 (held-out images)", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("calibrated on", figures["calibration"])
    table.add_row("held-out images / FP32 boxes", f"{gate['images']} / {gate['boxes']}")
    table.add_row("agreement F1", f"{gate['f1']:.4f}  (min {rules['min_f1']})")
    if gate["worst_class"] is not None:
        lost = 1 - gate["worst_class_kept"]
        of = f" of {gate['worst_class_boxes']}" if gate.get("worst_class_boxes") else ""
        limit = f"max {rules['max_class_drop']:.0%} beyond chance"
        table.add_row(f"most lost class: {gate['worst_class']}", f"{lost:.1%}{of}  ({limit})")
    if gate.get("unjudged"):
        table.add_row(f"not judged per class (< {rules['min_class_boxes']} boxes)", ", ".join(gate["unjudged"]))
    if gate["map_change"] is not None:
        change = f"{gate['map_fp32']:.4f} -> {gate['map_int8']:.4f} ({gate['map_change']:+.4f})"
        table.add_row("mAP50-95", f"{change}  (max -{rules['max_map_drop']})")
    table.add_row("ms/image FP32 / INT8", f"{gate['ms_fp32']:.1f} / {gate['ms_int8']:.1f}  ({gate['speedup']:.2f}x)")
    table.add_row("quantization", f"{figures['quantize_s']:.1f} s")
    passed = gate["passed"]
    table.add_row("result", Text("PASS" if passed else "FAIL", style="green" if passed else "red"))
    console.print(table)
