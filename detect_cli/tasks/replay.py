"""The results a `--resume`d file already holds, read back as `ImageResult`s (boxes, classes, track
ids, frame and time), so that what is counted across a whole run (`--zone` occupancy and time in
zone, `--heatmap`) continues over the frames written before the cut instead of starting again."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from detect_cli.core.results import ImageResult
from detect_cli.outputs.records import CSV_COLUMNS, result_from_record


def recorded_results(out: Path, fmt: str, names: dict[int, str]) -> Iterator[ImageResult]:
    """The ok records of a JSONL or CSV results file (already repaired by `resume.prepare_resume`), in
    file order; `names` are the model's class names."""
    for record in _jsonl(out) if fmt == "jsonl" else _csv(out):
        if record.get("status") == "ok" and isinstance(record.get("detections"), list):
            yield result_from_record(record, names, str(record["source"]))


def _jsonl(out: Path) -> Iterator[dict[str, Any]]:
    with open(out, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _csv(out: Path) -> Iterator[dict[str, Any]]:
    """CSV rows (one per box) gathered back into one record per image or frame."""
    current: dict[str, Any] | None = None
    with open(out, encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh, fieldnames=CSV_COLUMNS):
            if row["index"] == "index" or not row["index"].isdigit():
                continue  # the header
            key = (row["index"], row["frame"])
            if current is None or current["key"] != key:
                if current is not None:
                    yield current
                current = {
                    "key": key,
                    "index": int(row["index"]),
                    "source": row["source"],
                    "status": row["status"],
                    "width": _int(row["width"]),
                    "height": _int(row["height"]),
                    "frame": _int(row["frame"]),
                    "time_s": float(row["time_s"]) if row["time_s"] else None,
                    "detections": [],
                }
            if row["class_id"]:
                current["detections"].append(
                    {
                        "box": [float(row[k]) for k in ("x1", "y1", "x2", "y2")],
                        "confidence": float(row["confidence"]),
                        "class_id": int(row["class_id"]),
                        **({"track_id": _int(row["track_id"])} if row["track_id"] else {}),
                    }
                )
    if current is not None:
        yield current


def _int(text: str) -> int | None:
    return int(text) if text.lstrip("-").isdigit() else None
