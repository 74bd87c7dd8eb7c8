"""Steps shared by the commands that run a model: settings from flags, loading with notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detect_cli.cli.output import warn
from detect_cli.models import Detector
from detect_cli.settings import DetectSettings


def settings_from_flags(config: Path | None, **flags: Any) -> DetectSettings:
    from detect_cli.settings import load_settings

    return load_settings(config, flags)


def open_detector(settings: DetectSettings, *, weights_dir: Path | None, verbose: bool, iou_given: bool) -> Detector:
    """Resolve and load the model; print its notes, and say when --iou has no effect.

    Weights folders are searched as --weights-dir, ATTN_DETECT_WEIGHTS_DIR, then the config's."""
    from detect_cli.job import predict_options
    from detect_cli.models import load_detector, resolve_model, weights_dirs

    detector = load_detector(
        resolve_model(settings.model, weights_dirs(weights_dir, settings.weights_dir)),
        device="" if settings.device == "auto" else settings.device,
        half=settings.half,
        threads=settings.threads,
        verbose=verbose,
    )
    for message in detector.notes:
        warn(message)
    if iou_given and not detector.runs_nms(predict_options(settings, detector)):
        why = "RT-DETR has no NMS" if detector.ref.family == "rtdetr" else "YOLO26 runs its NMS-free head (add --nms)"
        warn(f"--iou has no effect: {why}")
    return detector
