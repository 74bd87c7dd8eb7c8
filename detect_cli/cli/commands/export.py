"""`attn-detect export`: export a model, verify it against PyTorch, say how to use it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from detect_cli.cli import options as opt
from detect_cli.cli.output import EXIT_CODES_HELP, State, handle_errors, hold, note, out, warn
from detect_cli.cli.progress import RunProgress, wanted
from detect_cli.errors import ConfigError, ExitCode

app = typer.Typer()

ModelArg = Annotated[str, typer.Argument(help="Alias (yolo26n, rtdetr-l, demo, ...), .pt checkpoint or model YAML.")]
Fmt = Annotated[str, typer.Option("--format", "-f", help="onnx, torchscript, openvino or ncnn.")]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Folder for the exported model.")]
Flag = Annotated[bool, typer.Option()]


@app.command(epilog=EXIT_CODES_HELP)
@handle_errors
def export(
    model: ModelArg,
    fmt: Fmt = "onnx",
    imgsz: opt.Imgsz = None,
    half: Annotated[bool, typer.Option(help="FP16 weights.")] = False,
    int8: Annotated[bool, typer.Option(help="INT8 quantization (needs --data for calibration).")] = False,
    dynamic: Annotated[bool, typer.Option(help="Dynamic input shapes.")] = False,
    data: Annotated[Optional[str], typer.Option(help="Dataset YAML with calibration images for --int8.")] = None,
    device: opt.Device = None,
    out_dir: OutDir = Path("exported"),
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Compare with the PyTorch model.")] = True,
    verify_images: Annotated[
        Optional[list[str]], typer.Option(help="Images for the check (default: samples that suit the model).")
    ] = None,
    conf: opt.Conf = None,
    weights_dir: opt.WeightsDir = None,
    trust_model: opt.TrustModel = False,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    config: opt.Config = None,
    progress: opt.ShowProgress = None,
) -> None:
    """Export a model to ONNX/OpenVINO/TorchScript/NCNN and prove it matches the PyTorch model."""
    from detect_cli.export import (
        check_export_args,
        export_model,
        export_stem,
        load_exported,
        output_size,
        verification_images,
    )
    from detect_cli.export import verify as run_check
    from detect_cli.models import PredictOptions, load_detector
    from detect_cli.settings import load_settings
    from detect_cli.ultralytics_env import model_loading
    from detect_cli.weights import resolve_model, weights_dirs

    State.quiet, State.verbose = quiet, verbose
    settings = load_settings(config, {"imgsz": imgsz, "device": device, "conf": conf})
    dev = "" if settings.device == "auto" else settings.device
    spec = check_export_args(fmt, half=half, int8=int8, data=data, device=dev)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder", "pass a folder for the exported model")
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    bar.loading(model)
    original = load_detector(resolve_model(model, weights_dirs(weights_dir, settings.weights_dir)), device=dev or "cpu",
                             verbose=verbose, trusted=trust_model)  # fmt: skip
    for message in original.notes:
        warn(message)
    imgsz, resized = original.run_imgsz(settings.imgsz)
    if resized:
        warn(resized)
    settings = replace(settings, imgsz=imgsz)
    bar.status(f"exporting to {fmt}…", quiet=True)
    with model_loading(trust_model):  # the exporter loads the checkpoint again
        path = export_model(original, spec, out_dir, imgsz=settings.imgsz, half=half, int8=int8, dynamic=dynamic,
                            data=data, device=dev)  # fmt: skip
    report: dict = {"model": model, "format": fmt, "path": str(path), "bytes": output_size(path)}
    if path.name != export_stem(original) + spec.suffix:
        note(f"{out_dir / (export_stem(original) + spec.suffix)} exists already: kept, this export is {path.name}")
    status = ExitCode.OK
    if verify:
        bar.status(f"loading {path.name}…", quiet=True)
        exported = load_exported(path, original.ref.family, device=dev or "cpu")
        images = verification_images(original, verify_images)
        options = PredictOptions(conf=settings.conf, imgsz=settings.imgsz, max_det=settings.max_det)
        bar.start("verifying against PyTorch", total=len(images))
        check = run_check(original, exported, bar.tracked(images), options)
        report["verification"] = check.as_dict()
        if original.ref.kind == "yaml":
            warn("random weights give near-equal scores that tie differently across runtimes: the check is shown, "
                 "not enforced")  # fmt: skip
        elif not check.passed:
            status = ExitCode.UNEXPECTED
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        _render(report)
    if status != ExitCode.OK:
        warn("the exported model does not match the PyTorch model within tolerance (see the table)")
        raise typer.Exit(int(status))
    if not quiet:
        note(f"next: attn-detect detect IMAGE --model {path} --imgsz {settings.imgsz}")


def _render(report: dict) -> None:
    console = out()
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
