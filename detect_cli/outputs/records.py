"""The record schema: how results become the JSON records, CSV rows and COCO boxes every sink writes.

Every format is made from `image_record`, so all of them agree to the digit. A command's `Layout`
says how its records and summary map onto the formats (see outputs/sinks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.polygons import OCCUPANCY
from detect_cli.core.results import STAGES, ImageResult, Timing, Unsaved

SCHEMA_VERSION = 1
BOX_DECIMALS = 2
CONF_DECIMALS = 4


def _same(record: Any) -> dict[str, Any]:
    return record  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Layout:
    """How one command's records and summary are written. `record` turns what the task yields into
    its JSON record (identity when the task yields records already)."""

    items: str
    columns: tuple[str, ...]
    record: Callable[[Any], dict[str, Any]] = _same
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    summary_rows: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    coco: bool = False

    def csv_rows(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return self.rows(record) if self.rows else [record]


def box_records(result: ImageResult) -> list[dict[str, Any]]:
    records = [
        {
            "class_id": cls,
            "class_name": result.class_name(cls),
            "confidence": round(conf, CONF_DECIMALS),
            "box": [round(float(v), BOX_DECIMALS) for v in box],
        }
        for box, conf, cls in result.detections
    ]
    tiles = result.detections.extra.get("tile")  # --slice-tiles: the window that found each box
    if tiles is not None:
        for record, tile in zip(records, tiles.tolist()):
            record["tile"] = None if tile[0] < 0 else tile
    redacted = result.detections.extra.get("redacted")  # --redact: the box is hidden in the pictures
    if redacted is not None:
        for record, hidden in zip(records, redacted.tolist()):
            record["redacted"] = bool(hidden)
    tracks = result.detections.track_id
    if tracks is not None:  # only with --track: null for a box in no confirmed track
        for record, track in zip(records, tracks.tolist()):
            record["track_id"] = track if track >= 0 else None
    return records


def image_record(result: ImageResult) -> dict[str, Any]:
    """The JSON/JSONL record of one image (an error record when the input failed)."""
    record = {
        "index": result.index,
        "source": result.source,
        "status": "ok" if result.ok else "error",
        "error": result.error,
        "width": result.width,
        "height": result.height,
        "detections": box_records(result),
        "speed_ms": result.timing.as_dict(),
        "warnings": list(result.all_warnings()),
    }
    if result.frame is not None:  # video frames only: a still image's record is unchanged
        record["frame"] = result.frame
        record["time_s"] = None if result.time_s is None else round(result.time_s, 3)
    if OCCUPANCY in result.detections.metadata:  # --zone: the frame's boxes in each zone (pipeline/spatial.py)
        record["zones"] = result.detections.metadata[OCCUPANCY]
    return record


CSV_COLUMNS = (
    "index",
    "source",
    "status",
    "error",
    "width",
    "height",
    "class_id",
    "class_name",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "frame",
    "time_s",
    "track_id",
)


def csv_rows(result: ImageResult) -> list[dict[str, Any]]:
    return record_rows(image_record(result))


def record_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per box; an image without boxes (or with an error) still gets one row."""
    base = {k: record.get(k) for k in ("index", "source", "status", "error", "width", "height", "frame", "time_s")}
    if not record["detections"]:
        return [base]
    return [
        {
            **base,
            **{k: d[k] for k in ("class_id", "class_name", "confidence")},
            **dict(zip(("x1", "y1", "x2", "y2"), d["box"])),
            "track_id": d.get("track_id"),
        }
        for d in record["detections"]
    ]


# detect's records: one per image in JSON/JSONL, one CSV row per box, and COCO
IMAGES = Layout("images", CSV_COLUMNS, image_record, record_rows, coco=True)


def result_from_record(record: dict[str, Any], names: dict[int, str], name: str = "") -> ImageResult:
    """`image_record` read back (what a Ray worker sends): the same result, without its pixels.
    `name`: the relative name for saved files, which records do not hold."""
    boxes = record["detections"]
    tracks = [-1 if d.get("track_id") is None else d["track_id"] for d in boxes]
    extra = {}
    if any("tile" in d for d in boxes):
        extra["tile"] = np.array([d.get("tile") or [-1, -1, -1, -1] for d in boxes], np.int64).reshape(-1, 4)
    detections = Detections(
        np.array([d["box"] for d in boxes], np.float32).reshape(-1, 4),
        [d["confidence"] for d in boxes],
        [d["class_id"] for d in boxes],
        tracks if any("track_id" in d for d in boxes) else None,
        extra,
    )
    speed = record.get("speed_ms") or {}
    unsaved = []
    warnings = []
    for warning in record.get("warnings", []):
        kind = next((k for k in Unsaved if warning.startswith(k.value + ": ")), None)
        if kind is None:
            warnings.append(warning)
        else:
            unsaved.append((kind, warning[len(kind.value) + 2 :]))
    return ImageResult(
        record["source"],
        record["index"],
        detections,
        names,
        record.get("width"),
        record.get("height"),
        Timing(**{stage: float(speed.get(stage, 0.0)) for stage in STAGES}),
        record.get("error"),
        name=name,
        warnings=tuple(warnings),
        unsaved=tuple(unsaved),
        frame=record.get("frame"),
        time_s=record.get("time_s"),
    )
