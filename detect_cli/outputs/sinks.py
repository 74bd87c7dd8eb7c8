"""Writers for every command's results: JSON, JSONL, CSV, and COCO for detections.

A command's output is a stream of records (one per image, model, class, ...) and a summary. Its
`Layout` says how these map onto each format; the writers here are the same for every command:

- json: one document: `schema_version`, the run's metadata, the records under `layout.items`,
  then `summary`. Streamed: the header first, records as they come, the summary last.
- jsonl: one record per line as each is done (no summary: use json for it).
- csv: the rows of the command's table: per record (`layout.rows`, streamed), or taken from the
  summary at the end (`layout.summary_rows`: compare's one row per model).
- coco: detections only (`layout.coco`).

Every float leaves rounded to `DECIMALS` here (boxes and timings are rounded earlier, to fewer), so
all formats agree to the digit. JSONL and CSV flush per record, so an interrupted run keeps every
finished one. A stream that cannot be written (disk full, `/dev/full`) ends the run with a
`ConfigError` naming it; a closed pipe (`BrokenPipeError`) is left to the CLI, which ends quietly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import IO, Any

from detect_cli.core.errors import ConfigError
from detect_cli.outputs.records import IMAGES, SCHEMA_VERSION, Layout

DECIMALS = 4


def rounded(value: Any) -> Any:
    """The one rounding every format shares: floats to `DECIMALS` places, recursively."""
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, Mapping):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def summary_dict(summary: Any) -> dict[str, Any] | None:
    """A task's summary as plain data (`RunSummary` and others have `as_dict`)."""
    if summary is None or isinstance(summary, dict):
        return summary
    return summary.as_dict()  # type: ignore[no-any-return]


class Sink:
    """Base: owns the stream; `write(item)` adds one record, `close(summary)` finishes the file."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None, layout: Layout | None = None) -> None:
        self.stream = stream
        self.meta = meta or {}
        self.layout = layout or IMAGES

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(None)

    def write(self, item: Any) -> None:
        self.write_record(rounded(self.layout.record(item)))

    def write_record(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self, summary: Any) -> None:
        self._put("")

    def _put(self, text: str) -> None:
        """Write and flush, so what is written is on disk before the next record. Text that UTF-8
        cannot carry (a file name that is not UTF-8 holds lone surrogates, as `os.fsdecode` gives it)
        goes out as `\\udcff` escapes: in JSON, the string escape that reads back to the very name."""
        try:
            if text:
                self.stream.write(text if text.isascii() else utf8_safe(text))
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise ConfigError(f"{stream_label(self.stream)}: cannot write: {exc.strerror or exc}") from None


def utf8_safe(text: str) -> str:
    """`text`, with each lone surrogate (which UTF-8 cannot encode) as a `\\udcXX` escape."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def stream_label(stream: IO[str]) -> str:
    name = getattr(stream, "name", None)
    return f"--out {name}" if isinstance(name, str) and not name.startswith("<") else "the results stream (stdout)"


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class JsonlSink(Sink):
    def write_record(self, record: dict[str, Any]) -> None:
        self._put(dumps(record) + "\n")


class JsonSink(Sink):
    """One JSON document, streamed: the header first, records as they come, the summary last."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None, layout: Layout | None = None) -> None:
        super().__init__(stream, meta, layout)
        self._count = 0
        self._closed = False
        head = {"schema_version": SCHEMA_VERSION, **rounded(self.meta)}
        self._put(dumps(head)[:-1] + ("," if len(head) else "") + f'"{self.layout.items}":[\n')

    def write_record(self, record: dict[str, Any]) -> None:
        self._put(("," if self._count else "") + dumps(record) + "\n")
        self._count += 1

    def close(self, summary: Any) -> None:
        if not self._closed:
            self._closed = True
            self._put('],"summary":' + dumps(rounded(summary_dict(summary))) + "}\n")


class CsvSink(Sink):
    """Rows of one record go out in one write, so a crash cannot leave half a record behind except
    as a cut last line (which `--resume` repairs). Layouts with `summary_rows` write at close."""

    def __init__(
        self, stream: IO[str], meta: dict[str, Any] | None = None, layout: Layout | None = None, header: bool = True
    ) -> None:
        super().__init__(stream, meta, layout)
        self._closed = False
        if header:
            self._put(self._text([dict(zip(self.layout.columns, self.layout.columns))]))

    def write_record(self, record: dict[str, Any]) -> None:
        if self.layout.summary_rows is None:
            self._put(self._text(self.layout.csv_rows(record)))

    def close(self, summary: Any) -> None:
        if not self._closed and self.layout.summary_rows is not None and summary is not None:
            self._put(self._text(self.layout.summary_rows(rounded(summary_dict(summary)))))
        self._closed = True
        self._put("")

    def _text(self, rows: list[dict[str, Any]]) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.layout.columns, lineterminator="\n", extrasaction="ignore")
        writer.writerows(rows)
        return buffer.getvalue()


VIDEO_ID_STEP = 10_000_000  # COCO image id of frame F of input I: (I + 1) * this + F


class CocoSink(Sink):
    """A COCO results file (`annotations` with image_id, category_id, xywh bbox, score) plus the
    `images` and `categories` lists, so it loads both as a dataset and via `loadRes`.

    Category ids are the model's class ids. Image ids are 1-based run positions. Failed
    inputs are listed under `errors`. Written at close: COCO is one JSON object."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None, layout: Layout | None = None) -> None:
        super().__init__(stream, meta, layout)
        if not self.layout.coco:
            raise ConfigError(f"COCO output holds detections, not {self.layout.items}", "use json, jsonl or csv")
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        names = self.meta.get("model", {}).get("names", {})
        self.categories: dict[int, str] = {int(k): v for k, v in names.items()}
        self._closed = False

    def write_record(self, record: dict[str, Any]) -> None:
        frame = record.get("frame")
        if record["status"] != "ok":
            self.errors.append(
                {
                    "source": record["source"],
                    "error": record["error"],
                    **({"frame": frame} if frame is not None else {}),
                }
            )
            return
        image_id = record["index"] + 1
        image = {"id": image_id, "file_name": record["source"], "width": record["width"], "height": record["height"]}
        if frame is not None:  # a video's frames: apart from the ids of stills (index + 1)
            image_id = image["id"] = (record["index"] + 1) * VIDEO_ID_STEP + frame
            image.update(frame_id=frame, time_s=record["time_s"])
        self.images.append(image)
        for det in record["detections"]:
            self.categories.setdefault(det["class_id"], det["class_name"])
            x1, y1, x2, y2 = det["box"]
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": det["class_id"],
                    "bbox": [x1, y1, w, h],
                    "score": det["confidence"],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                }
            )

    def close(self, summary: Any) -> None:
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
