"""Steps shared by the commands that run a model: settings from flags, loading with notes."""

from __future__ import annotations

from collections.abc import Callable
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
    sources: list[str] | None = None,
    truth: Callable[[dict[int, str]], Any] | None = None,
) -> tuple[DetectSettings, Detector]:
    """`models.open_model`, with its notes as warnings and slicing checked against the size it runs at.
    `sources` and `truth`: what --precision int8 may calibrate on and score its gate with."""
    from detect_cli.models.open import open_model
    from detect_cli.pipeline.slicing import check_slicing, slice_options

    opened = open_model(
        settings,
        weights_dir=weights_dir,
        trust_model=trust_model,
        iou_given=iou_given,
        needs_torch=needs_torch,
        verbose=verbose,
        status=status,
        sources=sources or (),
        truth=truth,
    )
    for message in opened.notes:
        warn(message)
    for message in check_slicing(slice_options(opened.settings), opened.settings.imgsz, opened.settings.max_det_image):
        warn(message)
    return opened.settings, opened.detector
