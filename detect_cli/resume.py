"""`--resume`: continue a JSONL or CSV results file after a crash, a kill or Ctrl-C.

The run's result-shaping settings are recorded in a sidecar `<out>.run.json` when the file is
started; resuming with different settings is refused. The file itself is repaired first: a
last line cut in half is dropped (and, for CSV, every row of that last image), and with
`retry_failed` the old error records are removed so those inputs run again. Inputs already in
the file are then skipped; their original positions (`index`) are kept for the rest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detect_cli.errors import ConfigError
from detect_cli.models import Detector
from detect_cli.settings import DetectSettings

RESUMABLE = ("jsonl", "csv")
SHAPING = ("model", "imgsz", "conf", "iou", "max_det", "classes", "nms", "half", "max_pixels")


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".run.json")


def weights_digest(detector: Detector) -> str:
    path = Path(detector.ref.path)
    if not path.is_file():
        return f"definition:{detector.ref.path}"  # a model YAML by name, or an export folder
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: DetectSettings, detector: Detector) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    values = settings.as_dict()
    return {**{k: values[k] for k in SHAPING}, "weights_sha256": weights_digest(detector)}


def write_sidecar(out: Path, fp: dict[str, Any], fmt: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar_path(out).write_text(json.dumps({"format": fmt, "fingerprint": fp}, indent=1) + "\n", encoding="utf-8")


@dataclass
class ResumeState:
    done: set[str] = field(default_factory=set)
    kept: int = 0
    dropped_partial: bool = False
    retried: int = 0


def prepare_resume(out: Path, fmt: str, fp: dict[str, Any], *, retry_failed: bool) -> ResumeState:
    """Check the settings, repair the file, and return the inputs already done."""
    if fmt not in RESUMABLE:
        raise ConfigError(f"--resume works with JSONL or CSV output, not {fmt}", "use --out results.jsonl")
    if not out.exists():
        return ResumeState()
    sidecar = sidecar_path(out)
    try:
        recorded = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"cannot resume {out}: its run record {sidecar} is missing or unreadable",
                          "start a new file, or run without --resume to overwrite it") from None  # fmt: skip
    if recorded.get("format") != fmt:
        raise ConfigError(f"cannot resume {out}: it was written as {recorded.get('format')}, not {fmt}")
    before = recorded.get("fingerprint", {})
    changed = [k for k in sorted(set(before) | set(fp)) if before.get(k) != fp.get(k)]
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {fp.get(k)!r}" for k in changed)
        raise ConfigError(f"cannot resume {out}: settings differ from the original run ({diffs})",
                          "use the same model and options, or write to a new file")  # fmt: skip
    return _repair_jsonl(out, retry_failed) if fmt == "jsonl" else _repair_csv(out, retry_failed)


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
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            state.dropped_partial = True  # a torn write in the middle can only be garbage; drop it
            continue
        if retry_failed and record.get("status") == "error":
            state.retried += 1
            continue
        kept.append(line)
        state.done.add(record["source"])
    state.kept = len(kept)
    if state.dropped_partial or state.retried:
        _rewrite(out, "".join(line + "\n" for line in kept))
    return state


def _repair_csv(out: Path, retry_failed: bool) -> ResumeState:
    text = out.read_text(encoding="utf-8", errors="replace")
    state = ResumeState()
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.split("\n", 1)[0]
    if text and not text.endswith("\n") and rows:
        last = rows[-1]["index"]  # the last image may be incomplete: run it again
        rows = [r for r in rows if r["index"] != last]
        state.dropped_partial = True
    if retry_failed:
        failed = {r["index"] for r in rows if r["status"] == "error"}
        state.retried = len(failed)
        rows = [r for r in rows if r["index"] not in failed]
    state.done = {r["source"] for r in rows}
    state.kept = len({r["index"] for r in rows})
    if state.dropped_partial or state.retried:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header.split(","), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _rewrite(out, buffer.getvalue())
    return state


def _rewrite(path: Path, content: str) -> None:
    """Replace atomically, so a crash during the repair cannot lose the file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
