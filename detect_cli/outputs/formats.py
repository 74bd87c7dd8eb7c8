"""Every output format, in one place: its name, the file suffixes that imply it, and the writer that makes it.

A new format is a `Sink` subclass (outputs/sinks.py shows the contract) registered here.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from detect_cli.core.choices import RESULT_FORMATS, TRACK_FORMATS
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
        raise ConfigError(f"--out {path}: cannot tell the format from the extension",
                          f"use {names}, or pass --format{more}")  # fmt: skip
    return fmt


SINKS: dict[str, type[Sink]] = {"json": JsonSink, "jsonl": JsonlSink, "csv": CsvSink, "coco": CocoSink}


def open_sink(fmt: str, stream: IO[str], meta: dict[str, Any] | None = None, *, layout: Layout | None = None,
              appending: bool = False) -> Sink:  # fmt: skip
    """`appending`: continue a file (`--resume`): no CSV header again."""
    if fmt == "mot":
        return MotSink(stream, meta)
    if fmt not in SINKS:
        raise ConfigError(f"unknown format '{fmt}'", f"choose one of {', '.join(FORMATS + TRACK_FORMATS)}")
    if fmt == "csv":
        return CsvSink(stream, meta, layout, header=not appending)
    return SINKS[fmt](stream, meta, layout)
