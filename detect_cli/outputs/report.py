"""One self-contained HTML page beside saved images: tables and the pictures, nothing else.

No script, no external asset, no server: open `index.html` from the folder. Pictures are linked
by relative URLs, and only those that exist are linked. Every string that comes from outside
(file names, class names, model names, error messages) is escaped. The page never replaces a
file that was there: a second page in the same folder is `index_1.html`, and so on."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

PAGE_NAME = "index.html"
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; background: #fff; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
.pictures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 100%; } figcaption { font-size: .9em; color: #555; word-break: break-all; }
img { max-width: min(100%, 960px); height: auto; border: 1px solid #ccc; background: #fff; }
.missing { color: #a00; } .note { color: #555; }
"""
# no script, no plugin, no form; images from the folder (file: or http(s): when served)
POLICY = "default-src 'none'; img-src * data: file:; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Table:
    header: Sequence[Any]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Picture:
    path: Path
    caption: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    tables: Sequence[Table] = ()
    pictures: Sequence[Picture] = ()
    notes: Sequence[str] = field(default_factory=tuple)


def render_page(folder: str | Path, title: str, sections: Iterable[Section]) -> str:
    """The page as text, with pictures linked relative to `folder` (where the page will be)."""
    base = Path(folder).resolve()
    body = [f"<h1>{_text(title)}</h1>"]
    for section in sections:
        body.append(f"<section>\n<h2>{_text(section.title)}</h2>")
        body += [f'<p class="note">{_text(note)}</p>' for note in section.notes]
        body += [_table(table) for table in section.tables if table.rows]
        if section.pictures:
            body.append('<div class="pictures">')
            body += [_figure(picture, base) for picture in section.pictures]
            body.append("</div>")
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_page(folder: str | Path, title: str, sections: Iterable[Section]) -> Path:
    """Write the page into `folder` (made if missing) under a name no file has; OSError if it cannot."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = render_page(folder, title, sections).encode("utf-8")
    stem, suffix = os.path.splitext(PAGE_NAME)
    n = 0
    while True:
        path = folder / (f"{stem}_{n}{suffix}" if n else PAGE_NAME)
        try:
            with open(path, "xb") as fh:  # exclusive: an existing page (the user's, an earlier run's) stays
                try:
                    fh.write(text)
                except OSError:
                    path.unlink(missing_ok=True)
                    raise
            return path
        except FileExistsError:
            n += 1


def comparison_page(
    folder: str | Path, report: dict[str, Any], grids: Sequence[tuple[str, Path]], extra: Sequence[Section] = ()
) -> Path:
    """`compare --save`: the report's tables, the `extra` sections (with labels: the evaluation's), and
    each input's side-by-side image."""
    models = report.get("models", [])
    names = [m.get("name", "?") for m in models]
    keys = [k for k in _metric_keys(models) if k != "name"]
    tables = [Table(["", *names], [[k, *(m.get(k) for m in models)] for k in keys], "Models")]
    classes = sorted({c for m in models for c in m.get("class_counts", {})})
    tables.append(
        Table(
            ["class", *names],
            [[c, *(m.get("class_counts", {}).get(c, 0) for m in models)] for c in classes],
            "Detections per class",
        )
    )
    agreement = report.get("agreement", [])
    agree_keys = ["reference", "model", "matched", "precision", "recall", "f1", "mean_iou"]
    tables.append(
        Table(agree_keys, [[p.get(k) for k in agree_keys] for p in agreement], "Agreement (same class, IoU >= 0.5)")
    )
    failed = [
        *(("model " + f["name"], f["error"]) for f in report.get("failed_models", [])),
        *((f["source"], f["error"]) for f in report.get("failures", [])),
    ]
    tables.append(Table(["input", "error"], failed, "Failed"))
    settings = ", ".join(f"{k} {v}" for k, v in report.get("settings", {}).items() if v is not None)
    sections = [Section("Comparison", tables, notes=[settings] if settings else []), *extra]
    sections.append(Section("Images", pictures=[Picture(Path(path), source) for source, path in grids]))
    return write_page(folder, f"attn-detect compare: {', '.join(names)}", sections)


def attention_page(
    folder: str | Path,
    records: Sequence[dict[str, Any]],
    *,
    model: str = "",
    faithfulness: Sequence[dict[str, Any]] | None = None,
) -> Path:
    """`attention --save`: per input, its detections' figures and every overlay written for it."""
    sections = []
    if faithfulness:
        keys = _metric_keys(faithfulness)
        sections.append(
            Section(
                "Faithfulness (mean, 95% interval)", [Table(keys, [[row.get(k) for k in keys] for row in faithfulness])]
            )
        )
    for record in records:
        title = str(record.get("source", "?"))
        if record.get("status") == "error":
            sections.append(Section(title, notes=[f"error: {record.get('error')}"]))
            continue
        detections = record.get("detections") or []
        first = detections[0] if detections else {}
        methods = [m for m, v in first.items() if isinstance(v, dict) and "mass_in_box" in v]
        header = ["#", "class", "conf", *(f"{m} mass in box" for m in methods)]
        rows = [
            [j, d.get("class_name"), d.get("confidence"), *(d[m].get("mass_in_box") for m in methods)]
            for j, d in enumerate(detections)
        ]
        overlays = Path(record["overlays"]) if record.get("overlays") else None
        pictures = [Picture(p, p.stem) for p in _images_in(overlays)] if overlays else []
        notes = [
            f"{record.get('width')}x{record.get('height')}, {len(detections)} detection(s), maps: {record.get('maps')}"
        ]
        if overlays is not None and overlays.suffix == ".mp4":  # a video: its first frame's figures, then the video
            notes.append(f"frame {record.get('frame')} shown; overlay video of every frame: {overlays.name}")
        sections.append(Section(title, [Table(header, rows)], pictures, notes))
    return write_page(folder, f"attn-detect attention{': ' + model if model else ''}", sections)


def _images_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"} and p.is_file())
    except OSError:
        return []


def _metric_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Keys whose values are plain numbers or strings, in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if value is None or isinstance(value, (str, int, float)):
                keys.setdefault(key)
    return list(keys)


def _table(table: Table) -> str:
    caption = f"<caption>{_text(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{_text(h)}</th>" for h in table.header)
    rows = "\n".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in table.rows)
    return f"<table>{caption}\n<tr>{head}</tr>\n{rows}\n</table>"


def _figure(picture: Picture, base: Path) -> str:
    caption = _text(picture.caption or picture.path.name)
    path = picture.path if picture.path.is_absolute() else Path.cwd() / picture.path
    if not path.is_file():  # link only what exists: say what is missing instead
        missing = f'<p class="missing">not saved: {_text(picture.path.name)}</p>'
        return f"<figure>{missing}<figcaption>{caption}</figcaption></figure>"
    href = html.escape(quote(Path(os.path.relpath(path.resolve(), base)).as_posix()), quote=True)
    return (
        f'<figure><a href="{href}"><img src="{href}" alt="{caption}" loading="lazy"></a>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return _text(value)


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)
