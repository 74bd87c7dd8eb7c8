"""Writers for results: JSON, JSONL, CSV, COCO. Each is a context manager with `write`.

All write as they go (JSONL and CSV flush per image, so an interrupted run keeps every
finished image); all take their numbers from `results.image_record`. A stream that cannot be
written (disk full, `/dev/full`) ends the run with a `ConfigError` naming it; a closed pipe
(`BrokenPipeError`) is left to the CLI, which ends quietly.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import IO, Any

from detect_cli.errors import ConfigError
from detect_cli.results import CSV_COLUMNS, SCHEMA_VERSION, ImageResult, RunSummary, csv_rows, image_record

FORMATS = ("json", "jsonl", "csv", "coco")  # every one holds every record (tests check them alike)
TRACK_FORMATS = ("mot",)  # rows of one sequence (tracking.MotSink): boxes only, no error records
SUFFIX_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def format_for_path(path: Path, explicit: str | None = None) -> str:
    """The format for --out FILE: --format if given, else from the extension (.coco.json -> coco)."""
    if explicit:
        return explicit
    if path.name.lower().endswith(".coco.json"):
        return "coco"
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if not fmt:
        raise ConfigError(
            f"--out {path}: cannot tell the format from the extension",
            "use .json, .jsonl, .csv or .coco.json, or pass --format (--format mot for MOT rows)",
        )
    return fmt


class Sink:
    """Base: owns the stream; `close(summary)` finishes the file."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None) -> None:
        self.stream = stream
        self.meta = meta or {}

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(None)

    def write(self, result: ImageResult) -> None:
        raise NotImplementedError

    def close(self, summary: RunSummary | None) -> None:
        self._put("")

    def _put(self, text: str) -> None:
        """Write and flush, so what is written is on disk before the next image."""
        try:
            if text:
                self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise ConfigError(f"{stream_label(self.stream)}: cannot write: {exc.strerror or exc}") from None


def stream_label(stream: IO[str]) -> str:
    name = getattr(stream, "name", None)
    return f"--out {name}" if isinstance(name, str) and not name.startswith("<") else "the results stream (stdout)"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class JsonlSink(Sink):
    def write(self, result: ImageResult) -> None:
        self._put(_dumps(image_record(result)) + "\n")


class JsonSink(Sink):
    """One JSON document, streamed: the header first, images as they come, the summary last."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None) -> None:
        super().__init__(stream, meta)
        self._count = 0
        self._closed = False
        head = {"schema_version": SCHEMA_VERSION, **self.meta}
        self._put(_dumps(head)[:-1] + ',"images":[\n')

    def write(self, result: ImageResult) -> None:
        self._put(("," if self._count else "") + _dumps(image_record(result)) + "\n")
        self._count += 1

    def close(self, summary: RunSummary | None) -> None:
        if not self._closed:
            self._closed = True
            self._put('],"summary":' + _dumps(summary.as_dict() if summary else None) + "}\n")


class CsvSink(Sink):
    """Rows of one image go out in one write, so a crash cannot leave half an image behind
    except as a cut last line (which `--resume` repairs)."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None, header: bool = True) -> None:
        super().__init__(stream, meta)
        if header:
            self._put(_csv_text([dict(zip(CSV_COLUMNS, CSV_COLUMNS))]))

    def write(self, result: ImageResult) -> None:
        self._put(_csv_text(csv_rows(result)))


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


VIDEO_ID_STEP = 10_000_000  # COCO image id of frame F of input I: (I + 1) * this + F


class CocoSink(Sink):
    """A COCO results file (`annotations` with image_id, category_id, xywh bbox, score) plus the
    `images` and `categories` lists, so it loads both as a dataset and via `loadRes`.

    Category ids are the model's class ids. Image ids are 1-based run positions. Failed
    inputs are listed under `errors`. Written at close: COCO is one JSON object."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None) -> None:
        super().__init__(stream, meta)
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.categories: dict[int, str] = {}
        self._closed = False

    def write(self, result: ImageResult) -> None:
        self.categories.update(result.names)
        record = image_record(result)
        if not result.ok:
            self.errors.append({"source": result.source, "error": result.error,
                                **({"frame": result.frame} if result.frame is not None else {})})  # fmt: skip
            return
        image_id = result.index + 1
        image = {"id": image_id, "file_name": result.source, "width": result.width, "height": result.height}
        if result.frame is not None:  # a video's frames: apart from the ids of stills (index + 1)
            image_id = image["id"] = (result.index + 1) * VIDEO_ID_STEP + result.frame
            image.update(frame_id=result.frame, time_s=record["time_s"])
        self.images.append(image)
        for det in record["detections"]:
            x1, y1, x2, y2 = det["box"]
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            self.annotations.append({
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": det["class_id"],
                "bbox": [x1, y1, w, h],
                "score": det["confidence"],
                "area": round(w * h, 2),
                "iscrowd": 0,
            })  # fmt: skip

    def close(self, summary: RunSummary | None) -> None:
        if not self._closed:
            self._closed = True
            document = {
                "info": {"schema_version": SCHEMA_VERSION, **self.meta},
                "images": self.images,
                "categories": [{"id": i, "name": n} for i, n in sorted(self.categories.items())],
                "annotations": self.annotations,
                "errors": self.errors,
            }
            self._put(json.dumps(document, ensure_ascii=False) + "\n")


SINKS: dict[str, type[Sink]] = {"json": JsonSink, "jsonl": JsonlSink, "csv": CsvSink, "coco": CocoSink}


def open_sink(fmt: str, stream: IO[str], meta: dict[str, Any] | None = None, *, appending: bool = False) -> Sink:
    """`appending`: continue a file (`--resume`): no CSV header again."""
    if fmt == "mot":
        from detect_cli.tracking import MotSink

        return MotSink(stream, meta)
    if fmt not in SINKS:
        raise ConfigError(f"unknown format '{fmt}'", f"choose one of {', '.join(FORMATS + TRACK_FORMATS)}")
    if fmt == "csv":
        return CsvSink(stream, meta, header=not appending)
    return SINKS[fmt](stream, meta)
