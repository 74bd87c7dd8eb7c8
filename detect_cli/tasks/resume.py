"""`--resume`: continue a JSONL or CSV results file after a crash, a kill or Ctrl-C.

The run's result-shaping settings are recorded in a sidecar `<out>.run.json` when the file is
started; resuming with different settings is refused. The file itself is repaired first: a
last line cut in half is dropped (and, for CSV, every row of that last image, also when the cut
falls inside a quoted file name), and with `retry_failed` the old error records are removed so
those inputs run again. A run record or record of the wrong shape is refused (ConfigError).

Inputs already in the file are then skipped by position (`index`), so the same file given twice
is two inputs; a position whose source differs from the file's is refused (the inputs changed).
The others keep the positions they would have had in one run. A video's frames share its
position: a video cut short continues after its last frame written (`ResumeState.videos`); one
that ended (its last record, or an error record where it broke) is skipped like an image.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detect_cli.core.errors import ConfigError
from detect_cli.core.settings import DetectSettings
from detect_cli.models.detector import Detector
from detect_cli.models.digest import weights_digest
from detect_cli.outputs.records import CSV_COLUMNS

RESUMABLE = ("jsonl", "csv")
SHAPING = (
    "model",
    "imgsz",
    "conf",
    "iou",
    "max_det",
    "classes",
    "nms",
    "half",
    "max_pixels",
    "slice",
    "slice_overlap",
    "slice_full",
    "slice_merge",
    "slice_match",
    "slice_tiles",
    "max_det_image",
)
SLICING = {k for k in SHAPING if k.startswith("slice")} | {"max_det_image"}  # recorded only when slicing
ZONING = ("zones", "zone_anchor")  # the records' occupancy: recorded only with --zone


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".run.json")


def fingerprint(settings: DetectSettings, detector: Detector) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    values = settings.as_dict()
    shaping = [k for k in SHAPING if values["slice"] or k not in SLICING]  # files from before --slice resume
    shaping += [k for k in ZONING if values["zones"]]
    shaping += [k for k in ("class_conf", "agnostic_nms") if values[k]]  # only when set: older files resume
    ran_int8 = {"precision": "int8"} if detector.precision == "int8" else {}  # its boxes are not fp32's
    letterbox = detector.letterbox_ran(values["letterbox"])  # a picture's boxes at its own aspect are not the square's
    return {
        **{k: values[k] for k in shaping},
        **ran_int8,
        "letterbox": letterbox,
        "weights_sha256": weights_digest(detector),
    }


def write_sidecar(out: Path, fp: dict[str, Any], fmt: str) -> None:
    sidecar = sidecar_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(sidecar) and not stat.S_ISREG(os.stat(sidecar).st_mode):
            raise IsADirectoryError(0, f"{sidecar} exists and is not a regular file")
        sidecar.write_text(json.dumps({"format": fmt, "fingerprint": fp}, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write its run record {sidecar.name}: {exc.strerror or exc}") from None


@dataclass
class ResumeState:
    done: dict[int, str] = field(default_factory=dict)  # index -> source of the inputs already in the file
    dropped_partial: bool = False
    retried: int = 0
    # videos with frames in the file and no error record: index -> (last frame, largest track id or 0)
    videos: dict[int, tuple[int, int]] = field(default_factory=dict)
    _ended: set[int] = field(default_factory=set)

    def add(self, index: int, source: str, frame: int | None, error: bool, tracks: list[int]) -> None:
        self.done[index] = source
        if frame is None:
            return
        if error:  # where the video broke: it is finished
            self._ended.add(index)
            self.videos.pop(index, None)
        elif index not in self._ended:
            last, top = self.videos.get(index, (-1, 0))
            self.videos[index] = (max(last, frame), max([top, *tracks]))

    @property
    def kept(self) -> int:
        return len(self.done)


def prepare_resume(out: Path, fmt: str, fp: dict[str, Any], *, retry_failed: bool) -> ResumeState:
    """Check the settings, repair the file, and return the inputs already done."""
    if fmt not in RESUMABLE:
        raise ConfigError(f"--resume works with JSONL or CSV output, not {fmt}", "use --out results.jsonl")
    if not out.exists():
        return ResumeState()
    if not stat.S_ISREG(os.stat(out).st_mode):
        raise ConfigError(f"cannot resume {out}: not a regular file", "--resume continues a results file")
    recorded = _read_sidecar(out)
    if recorded["format"] != fmt:
        raise ConfigError(f"cannot resume {out}: it was written as {recorded['format']}, not {fmt}")
    before = recorded["fingerprint"]
    if "letterbox" in fp:  # files from before --letterbox ran the square
        before = {"letterbox": "square", **before}
    changed = [k for k in sorted(set(before) | set(fp)) if before.get(k) != fp.get(k)]
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {fp.get(k)!r}" for k in changed)
        raise ConfigError(
            f"cannot resume {out}: settings differ from the original run ({diffs})",
            "use the same model and options, or write to a new file",
        )
    try:
        return _repair_jsonl(out, retry_failed) if fmt == "jsonl" else _repair_csv(out, retry_failed)
    except OSError as exc:
        raise ConfigError(f"cannot resume {out}: {exc.strerror or exc}") from None


def _read_sidecar(out: Path) -> dict[str, Any]:
    sidecar = sidecar_path(out)
    hint = "start a new file, or run without --resume to overwrite it"
    try:
        if not stat.S_ISREG(os.stat(sidecar).st_mode):
            raise IsADirectoryError(0, "not a regular file")
        recorded = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"cannot resume {out}: its run record {sidecar} is missing or unreadable", hint) from None
    if not (
        isinstance(recorded, dict)
        and isinstance(recorded.get("format"), str)
        and isinstance(recorded.get("fingerprint"), dict)
    ):
        raise ConfigError(f"cannot resume {out}: its run record {sidecar} is not one attn-detect wrote", hint)
    return recorded


def _not_a_record(out: Path, line: int, why: str) -> ConfigError:
    return ConfigError(
        f"cannot resume {out}: line {line} is not an attn-detect record ({why})",
        "start a new file, or run without --resume to overwrite it",
    )


def _repair_jsonl(out: Path, retry_failed: bool) -> ResumeState:
    text = out.read_text(encoding="utf-8", errors="replace")
    state = ResumeState()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # no newline at the end: the last record was cut by the crash
        state.dropped_partial = True
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            state.dropped_partial = True  # a torn write in the middle can only be garbage; drop it
            continue
        if not isinstance(record, dict):
            raise _not_a_record(out, number, f"a JSON {type(record).__name__}, not an object")
        index, source, frame = record.get("index"), record.get("source"), record.get("frame")
        if type(index) is not int or not isinstance(source, str) or not (frame is None or type(frame) is int):
            raise _not_a_record(out, number, "no integer 'index' and text 'source'")
        if retry_failed and record.get("status") == "error":
            state.retried += 1
            continue
        kept.append(line)
        tracks = [
            d["track_id"]
            for d in record.get("detections") or ()
            if isinstance(d, dict) and type(d.get("track_id")) is int
        ]
        state.add(index, source, frame, record.get("status") == "error", tracks)
    if state.dropped_partial or state.retried:
        _rewrite(out, "".join(line + "\n" for line in kept))
    return state


def _repair_csv(out: Path, retry_failed: bool) -> ResumeState:
    """Parse strictly; a last row with no line end, or one that ends inside a quoted field (a file
    name with a newline in it, cut right there), was cut by the crash: every row of its image goes."""
    text = out.read_text(encoding="utf-8", errors="replace")
    state = ResumeState()
    rows, cut_index = _csv_rows(text)
    if cut_index is not None:
        rows = _without_cut(rows, cut_index)
        state.dropped_partial = True
    if rows and rows[0] != list(CSV_COLUMNS):
        raise ConfigError(
            f"cannot resume {out}: its columns are not the ones attn-detect writes",
            "start a new file, or run without --resume to overwrite it",
        )
    rows = rows[1:]
    for number, row in enumerate(rows, 2):
        if len(row) != len(CSV_COLUMNS) or not row[0].isdigit():
            raise _not_a_record(out, number, f"{len(row)} fields, expected {len(CSV_COLUMNS)} starting with an index")
    if retry_failed:
        failed = {r[0] for r in rows if r[2] == "error"}
        state.retried = len(failed)
        rows = [r for r in rows if r[0] not in failed]
    for r in rows:
        frame, track = r[_FRAME], r[_TRACK]
        state.add(
            int(r[0]),
            r[1],
            int(frame) if frame.isdigit() else None,
            r[2] == "error",
            [int(track)] if track.isdigit() else [],
        )
    if state.dropped_partial or state.retried or not text:  # an empty file gets its header
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
        _rewrite(out, buffer.getvalue())
    return state


_FRAME, _TRACK = CSV_COLUMNS.index("frame"), CSV_COLUMNS.index("track_id")


def _without_cut(rows: list[list[str]], cut_index: str) -> list[list[str]]:
    """Drop every row of the input cut by the crash: an image's rows, or for a video the rows of its
    last frame in the file (the cut row may belong to it or to the next: running it again is safe)."""
    frames = [r[_FRAME] for r in rows[1:] if r[0] == cut_index and len(r) == len(CSV_COLUMNS) and r[_FRAME]]
    if not frames:
        return [r for r in rows if r[0] != cut_index]
    return [r for r in rows if not (r[0] == cut_index and len(r) == len(CSV_COLUMNS) and r[_FRAME] == frames[-1])]


def _csv_rows(text: str) -> tuple[list[list[str]], str | None]:
    """The rows parsed whole, and the first field (the index) of a row cut at the end, if any."""
    chunks = text.split("\n")
    lines = [c + "\n" for c in chunks[:-1]] + ([chunks[-1]] if chunks[-1] else [])
    reader = csv.reader(iter(lines), strict=True)
    rows: list[list[str]] = []
    consumed = 0
    try:
        for row in reader:
            rows.append(row)
            consumed = reader.line_num
    except csv.Error:  # unexpected end of data: the crash fell inside a quoted field
        return rows, lines[consumed].split(",", 1)[0]
    if text and not text.endswith("\n"):  # the last row has no line end
        return rows[:-1], rows[-1][0]
    return rows, None


def _rewrite(path: Path, content: str) -> None:
    """Replace atomically, so a crash during the repair cannot lose the file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".repair")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
