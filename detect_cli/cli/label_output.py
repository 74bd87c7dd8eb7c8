"""detect's formats for annotation tools (yolo, coco-dataset, labelstudio): flags checked before the
model loads, and what the user needs to know about the files said after the run."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from detect_cli.cli.console import note
from detect_cli.core.errors import ConfigError

if TYPE_CHECKING:
    from detect_cli.outputs.label_formats import LabelOptions
    from detect_cli.outputs.sinks import Sink


def label_options(fmt: str | None, *, save_conf: bool, image_root: str | None, ray: bool) -> LabelOptions | None:
    """The options of a label format, None for the others; ConfigError for a flag its format does not use."""
    from detect_cli.core.choices import LABEL_FORMATS
    from detect_cli.outputs.label_formats import LabelOptions

    if save_conf and fmt != "yolo":
        raise ConfigError("--save-conf adds a column to YOLO labels", "use it with --format yolo --out DIR/")
    if image_root is not None and fmt not in {"labelstudio", "coco-dataset"}:
        raise ConfigError(
            "--image-root says where Label Studio or a COCO tool finds the images",
            "use it with --format labelstudio or coco-dataset",
        )
    if fmt not in LABEL_FORMATS:
        return None
    if fmt == "yolo" and ray:
        raise ConfigError("--format yolo copies each image into the dataset: it runs locally", "drop --engine ray")
    return LabelOptions(save_conf=save_conf, image_root=image_root)


def yolo_folder(fmt: str | None, out: str | None) -> Path | None:
    """--out DIR/ of --format yolo (checked: new or empty), None for other formats."""
    if fmt != "yolo":
        return None
    if out is None:
        raise ConfigError("--format yolo writes a dataset folder", "give --out DIR/ (a new or empty folder)")
    from detect_cli.outputs.yolo_dataset import check_label_folder

    folder = Path(out)
    check_label_folder(folder)
    return folder


def say_notes(sinks: Iterable[Sink]) -> None:
    """Each label sink's notes: where its files are, and what to do to import them."""
    for sink in sinks:
        for line in getattr(sink, "notes", list)():
            note(line)
