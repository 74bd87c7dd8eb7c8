"""Every output format, in one place: its name, the file suffixes that imply it, and the writer that makes it.

A new format is a `Sink` subclass (outputs/sinks.py shows the contract) registered here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from detect_cli.core.choices import LABEL_FORMATS, RESULT_FORMATS, TRACK_FORMATS
from detect_cli.core.errors import ConfigError
from detect_cli.outputs.mot import MotSink
from detect_cli.outputs.records import Layout
from detect_cli.outputs.sinks import CocoSink, CsvSink, JsonlSink, JsonSink, Sink

FORMATS = RESULT_FORMATS
SUFFIX_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def format_for_path(path: Path, explicit: str | None = None, allowed: tuple[str, ...] = FORMATS) -> str:
    """The format for --out FILE: --format if given, else from the extension (.coco.json -> coco)."""
    if explicit:
        return explicit
    if "coco" in allowed and path.name.lower().endswith(".coco.json"):
        return "coco"
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if not fmt or fmt not in allowed:
        names = ", ".join(".coco.json" if f == "coco" else f".{f}" for f in allowed)
        more = " (--format mot for MOT rows)" if "coco" in allowed else ""
        raise ConfigError(
            f"--out {path}: cannot tell the format from the extension", f"use {names}, or pass --format{more}"
        )
    return fmt


def resolve_format(fmt: str | None, out_file: Path | None, allowed: tuple[str, ...] = FORMATS) -> str:
    """The format a command writes: "table" (its tables on stdout are the results) or a data format,
    from --format and --out FILE's extension (one rule for every command); ConfigError otherwise."""
    if out_file is not None:
        if fmt == "table":
            names = ", ".join(f".{f}" for f in allowed if f != "coco")
            raise ConfigError(
                f"--out {out_file}: tables are for the terminal", f"drop --format table, or name the file {names}"
            )
        fmt = format_for_path(out_file, fmt, allowed)
    fmt = fmt or "table"
    if fmt not in {"table", *allowed}:
        raise ConfigError(f"--format {fmt}: this command writes table, {', '.join(allowed)}")
    return fmt


@contextmanager
def open_results(path: Path, append: bool = False) -> Iterator[IO[str]]:
    """The results file, with OS errors (also on the last flush) as one line naming it."""
    from detect_cli.outputs.guards import hold_results_file, make_parent

    make_parent(path)
    try:
        stream = open(path, "a" if append else "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write: {exc.strerror or exc}") from None
    try:
        hold_results_file(path)  # made now: the run's lock holds the file itself too (hard links)
        yield stream
    except BaseException:
        with suppress(OSError):  # the error on its way out already names the file
            stream.close()
        raise
    try:
        stream.close()
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write: {exc.strerror or exc}") from None


SINKS: dict[str, type[Sink]] = {"json": JsonSink, "jsonl": JsonlSink, "csv": CsvSink, "coco": CocoSink}


def open_sink(
    fmt: str,
    stream: IO[str] | None,
    meta: dict[str, Any] | None = None,
    *,
    layout: Layout | None = None,
    appending: bool = False,
    out: Path | None = None,
    labels: Any = None,
) -> Sink:
    """`appending`: continue a file (`--resume`): no CSV header again. Label formats: `out` is --out
    (yolo's folder, which has no stream), `labels` their `label_formats.LabelOptions`."""
    if fmt in LABEL_FORMATS:
        return _open_label_sink(fmt, stream, meta, out=out, options=labels)
    assert stream is not None, f"--format {fmt} writes to a stream"
    if fmt == "mot":
        return MotSink(stream, meta)
    if fmt not in SINKS:
        names = ", ".join(FORMATS + TRACK_FORMATS + LABEL_FORMATS)
        raise ConfigError(f"unknown format '{fmt}'", f"choose one of {names}")
    if fmt == "csv":
        return CsvSink(stream, meta, layout, header=not appending)
    return SINKS[fmt](stream, meta, layout)


def _open_label_sink(
    fmt: str, stream: IO[str] | None, meta: dict[str, Any] | None, *, out: Path | None, options: Any = None
) -> Sink:
    """The sink of a label format: `out` is the folder (yolo) or the results file (for the files
    beside it: Label Studio's labeling config); `stream` the file opened for it (none for a folder)."""
    from detect_cli.outputs.label_formats import LabelOptions

    options = options or LabelOptions()
    meta = meta or {}
    if fmt == "yolo":
        from detect_cli.outputs.yolo_dataset import YoloDatasetSink

        if out is None:
            raise ConfigError("--format yolo writes a folder", "give --out DIR/")
        return YoloDatasetSink(out, meta, options)
    if stream is None:
        raise ConfigError(f"--format {fmt} writes one file", "give --out FILE.json, or leave --out out for stdout")
    if fmt == "coco-dataset":
        from detect_cli.outputs.coco_dataset import CocoDatasetSink

        return CocoDatasetSink(stream, meta, options)
    if fmt == "labelstudio":
        from detect_cli.outputs.labelstudio import LabelStudioSink

        return LabelStudioSink(stream, meta, options, config_path=out)
    raise ConfigError(f"unknown label format '{fmt}'")
