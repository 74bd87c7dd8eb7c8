"""Steps shared by the commands that run a model: settings from flags, loading with notes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detect_cli.cli.console import note, warn

if TYPE_CHECKING:  # NumPy and YAML: loaded when a command runs, never for --help or completion
    from detect_cli.core.settings import DetectSettings
    from detect_cli.models.detector import Detector


def own_files(config: Path | None, models: list[str | None] | str | None, **more: Path | None) -> dict[str, object]:
    """The run's files besides its inputs, which --out must never replace: what each is -> its path
    (aliases and missing files are skipped by the check). `more`: e.g. ground_truth=labels."""
    models = [models] if not isinstance(models, list) else models
    files: dict[str, object] = {"the config file": config}
    files.update({"the model file" + ("" if len(models) == 1 else f" {spec}"): spec for spec in models})
    files.update({"the " + name.replace("_", " "): path for name, path in more.items()})
    return files


def settings_from_flags(config: Path | None, **flags: Any) -> DetectSettings:
    from detect_cli.core.settings import load_settings

    return load_settings(config, flags)


def open_detector(
    settings: DetectSettings,
    *,
    weights_dir: Path | None,
    verbose: bool,
    iou_given: bool,
    trust_model: bool = False,
    needs_torch: str | None = None,
    status: Callable[[str], None] = note,
) -> tuple[DetectSettings, Detector]:
    """Resolve and load the model, pick its runtime, and return the settings as they will really run
    (imgsz: the model's own size unless given, rounded as Ultralytics rounds it).

    Weights folders are searched as --weights-dir, ATTN_DETECT_WEIGHTS_DIR, then the config's.
    `needs_torch` names a feature that only the PyTorch model has (attention hooks): no export then.
    `status` hears what takes time ("preparing a faster runtime…"): a progress spinner, else a note."""
    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model, weights_dirs
    from detect_cli.models.runtime import choose_backend
    from detect_cli.pipeline.slicing import check_slicing, slice_options
    from detect_cli.tasks.detect import predict_options

    detector = load_detector(
        resolve_model(settings.model, weights_dirs(weights_dir, settings.weights_dir)),
        device="" if settings.device == "auto" else settings.device,
        half=settings.half,
        threads=settings.threads,
        verbose=verbose,
        trusted=trust_model,
    )
    for message in detector.notes:
        warn(message)
    imgsz, resized = detector.run_imgsz(settings.imgsz)
    if resized:
        warn(resized)
    settings = replace(settings, imgsz=imgsz)
    for message in check_slicing(slice_options(settings), imgsz):
        warn(message)
    options = predict_options(settings, detector)
    if iou_given and not detector.runs_nms(options):
        why = "RT-DETR has no NMS" if detector.ref.family == "rtdetr" else "YOLO26 runs its NMS-free head (add --nms)"
        warn(f"--iou has no effect: {why}")
    wanted = settings.backend
    if needs_torch and wanted not in {"auto", "torch"} and detector.ref.kind != "exported":
        warn(f"--backend {wanted} ignored: {needs_torch} needs the PyTorch model")
    if needs_torch:
        wanted = "torch"
    detector, choice = choose_backend(detector, wanted, options, batch=settings.batch, threads=settings.threads,
                                      status=status)  # fmt: skip
    if choice.backend == "torch" and settings.backend not in {"auto", "torch"}:
        warn(f"running PyTorch instead of {settings.backend}: {choice.reason}")
    return settings, detector
