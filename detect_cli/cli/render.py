"""Rich tables for people. Pure: results in, renderables out.

Long because every table the commands print is drawn here, so they look alike.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the results types bring NumPy, which --help must not load
    from detect_cli.core.results import ImageResult
    from detect_cli.models.detector import Detector
    from detect_cli.pipeline.run_summary import RunSummary


def boxes_table(result: ImageResult) -> Table | Text:
    """The image's boxes, best first; an image with none is one line, not an empty table."""
    count = f"{len(result.detections)} detection(s)" if len(result.detections) else "no detections"
    title = Text.assemble((result.name or result.source, "bold"), f"  {result.width}x{result.height}  ", count)
    if not len(result.detections):
        return title
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, min_width=len(title))
    table.add_column("class")
    table.add_column("conf", justify="right")
    for column in ("x1", "y1", "x2", "y2"):
        table.add_column(column, justify="right")
    for box, conf, cls in result.detections.sorted_by_confidence():
        table.add_row(Text(result.class_name(cls)), f"{conf:.2f}", *(f"{v:.1f}" for v in box))
    return table


def counts_table(summary: RunSummary) -> Table:
    # with videos these are boxes summed over frames, not objects: the videos table counts those
    title = "Detections per class" + (" (boxes, all frames)" if summary.videos else "")
    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("class", footer="total")
    table.add_column("count", justify="right", footer=str(summary.detections))
    for name, count in sorted(summary.class_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(Text(name), str(count))
    return table


def videos_table(summary: RunSummary) -> Table:
    """One row per video: frames, frames with detections, per class the most boxes in a frame and
    the mean per frame, ms per frame, and with --track the distinct objects per class."""
    tracked = any(v.tracked for v in summary.videos.values())
    table = Table(title="Videos", title_justify="left")
    table.add_column("video", overflow="fold")
    table.add_column("frames", justify="right")
    table.add_column("with\ndetections", justify="right")
    table.add_column("per class:\nmax / mean\nper frame", no_wrap=True)
    table.add_column("ms/frame", justify="right")
    if tracked:
        table.add_column("distinct\nobjects\n(tracks)", no_wrap=True)
    counting = any(v.line is not None for v in summary.videos.values())
    if counting:
        table.add_column("crossed\nthe line\nin / out", no_wrap=True)
    for source, stats in summary.videos.items():
        names = sorted(stats.class_total, key=lambda n: (-stats.class_total[n], n))
        classes = "\n".join(f"{name} {stats.class_max[name]} / {stats.class_mean(name):.2f}" for name in names)
        frames = str(stats.frames) + (f" (broke at {stats.broke_at})" if stats.broke_at is not None else "")
        frames += f"\n{stats.frames_skipped} skipped\nto keep up" if stats.frames_skipped else ""
        row = [
            Text(_shown(source)),
            Text(frames, style="red" if stats.broke_at is not None else ""),
            str(stats.frames_with_detections),
            Text(classes or "-"),
            f"{stats.ms_per_frame:.1f}",
        ]
        if tracked:
            row.append(Text(stats.objects_text().replace(", ", "\n") or "-"))
        if counting:
            row.append(Text(_crossings_text(stats) if stats.line is not None else "-"))
        table.add_row(*row)
    return table


def zones_tables(summary: RunSummary) -> list[Table]:
    """Per video (or folder of frames), one row per zone and class: boxes in it per frame (max, mean),
    tracks that entered and left, and their time in it (median, max; seconds, or frames where there
    are no timestamps)."""
    tables = []
    for source, counter in summary.zones.items():
        table = Table(title=Text(f"Zones in {_shown(source)} ({counter.anchor} of each box)"), title_justify="left")
        for header in (
            "zone",
            "class",
            "in it\nmax",
            "in it\nmean",
            "entered",
            "left",
            "time in\nmedian",
            "time in\nmax",
        ):
            table.add_column(header, justify="left" if header in ("zone", "class") else "right")
        for zone, classes in counter.summary().items():
            if not classes:
                table.add_row(Text(zone), "-", "0", "0.00", "0", "0", "-", "-")
            for name, s in classes.items():
                table.add_row(
                    Text(zone),
                    Text(name),
                    str(s["max"]),
                    f"{s['mean']:.2f}",
                    str(s["entries"]),
                    str(s["exits"]),
                    _dwell(s, "median"),
                    _dwell(s, "max"),
                )
        tables.append(table)
    return tables


def _dwell(stats: dict, which: str) -> str:
    if stats[f"{which}_s"] is not None:
        return f"{stats[f'{which}_s']:.1f} s"
    return f"{stats[f'{which}_frames']:.0f} fr" if stats[f"{which}_frames"] is not None else "-"


def _crossings_text(stats) -> str:  # type: ignore[no-untyped-def]
    """ "total 5 / 2" then a line per class: "circle 3 / 1"."""
    counted = stats.crossings
    names = sorted(set(counted.counts["in"]) | set(counted.counts["out"]))
    rows = [f"{name} {counted.counts['in'][name]} / {counted.counts['out'][name]}" for name in names]
    return "\n".join([f"total {counted.total('in')} / {counted.total('out')}", *rows])


def _shown(source: str) -> str:
    """A file under the working folder as a path relative to it (what the user typed, mostly), so the
    table's narrow first column holds it; anything else (URLs, streams, files elsewhere) in full."""
    if "://" in source or not os.path.isabs(source):
        return source
    relative = os.path.relpath(source)
    return source if relative.startswith("..") else relative


def tracking_table(scores: dict, model: str, tracker: str, frames: int) -> Table:
    """IDF1, MOTA and their parts (motmetrics' names), boxes matched at IoU >= 0.5."""
    table = Table(
        title=Text(f"{model} + {tracker} on {frames} frames (IoU 0.5)"), title_justify="left", show_header=False
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = (
        ("IDF1", "idf1", "{:.3f}"),
        ("MOTA", "mota", "{:.3f}"),
        ("MOTP (1 - IoU)", "motp", "{:.3f}"),
        ("ID switches", "num_switches", "{}"),
        ("false positives", "num_false_positives", "{}"),
        ("misses", "num_misses", "{}"),
        ("ground-truth boxes", "num_objects", "{}"),
        ("ground-truth objects", "num_unique_objects", "{}"),
        ("mostly tracked", "mostly_tracked", "{}"),
    )
    for label, key, fmt in rows:
        table.add_row(label, "n/a" if scores[key] is None else fmt.format(scores[key]))  # undefined: see warnings
    return table


def run_table(
    summary: RunSummary,
    model: str,
    backend: str | None = None,
    imgsz: int | None = None,
    letterbox: str | None = None,
) -> Table:
    """`letterbox`: how pictures ran, "rect" (at their own aspect) or "square" (`Detector.letterbox_ran`)."""
    table = Table(title="Run", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("model", Text(model))
    if backend:
        table.add_row("runtime", Text(backend))
    if imgsz:
        table.add_row("image size", str(imgsz))
    if letterbox:
        table.add_row("letterbox", letterbox)
    if summary.resumed:
        table.add_row("skipped (done before)", str(summary.resumed))
    table.add_row("images processed", str(summary.images))
    table.add_row("images failed", Text(str(summary.failed), style="red" if summary.failed else ""))
    from detect_cli.core.results import STAGES

    per_image = summary.ms_per_image()
    for stage in STAGES:
        table.add_row(f"{stage} ms/image", f"{per_image[stage]:.1f}")
    for what, how_much in summary.caps.lines():  # a cap that was reached: boxes may be missing
        table.add_row(what, Text(how_much, style="yellow"))
    table.add_row("wall time", f"{summary.wall_s:.2f} s")
    if summary.interrupted:
        table.add_row("status", Text("interrupted", style="yellow"))
    return table


def backend_text(detector: Detector) -> str:
    """ "OpenVINO (verified F1 1.000, 2.3x torch here)" or "OpenVINO INT8 (agreement F1 0.985, mAP50-95
    -0.004, 1.6x fp32 here)": the runtime in the registry's words, and why it runs."""
    from detect_cli.models.runtimes import display

    name = display(detector.backend, detector.precision)
    reason = detector.backend_reason.removeprefix(f"{detector.backend}: ").removeprefix("int8: ")
    return f"{name} ({reason})" if reason else name


def failures_table(summary: RunSummary) -> Table:
    table = Table(title=f"Failed inputs ({summary.failed})", title_justify="left", title_style="red")
    table.add_column("input", overflow="fold")
    table.add_column("error", overflow="fold")
    for source, message in summary.failures:
        table.add_row(Text(source), Text(message))
    return table


def evaluation_table(report, model: str, conf: float) -> Table:
    title = f"{model} on {report.images} labelled images (precision/recall at conf {conf:g}, IoU 0.5)"
    table = Table(title=Text(title), title_justify="left", show_footer=False)
    for column, justify in (
        ("class", "left"),
        ("instances", "right"),
        ("detections", "right"),
        ("precision", "right"),
        ("recall", "right"),
        ("mAP50", "right"),
        ("mAP50-95", "right"),
    ):
        table.add_column(column, justify=justify)
    for score in [*report.classes, report.overall]:
        style = "bold" if score is report.overall else ""
        table.add_row(
            Text(score.name),
            str(score.instances),
            str(score.detections),
            f"{score.precision:.3f}",
            f"{score.recall:.3f}",
            f"{score.map50:.3f}",
            f"{score.map50_95:.3f}",
            style=style,
        )
    return table


def tide_table(analysis) -> Group:  # type: ignore[no-untyped-def]
    """TIDE's error types: how many, and the AP50 fixing each alone would gain; then the best F1."""
    from detect_cli.evaluation.errors import ERROR_KINDS, KIND_NAMES

    tide, best = analysis.tide, analysis.f1.overall
    table = Table(title="Errors by type (TIDE)", title_justify="left")
    table.add_column("type")
    table.add_column("errors", justify="right")
    table.add_column("dAP", justify="right")
    for kind in ERROR_KINDS:
        table.add_row(KIND_NAMES[kind], str(tide.counts[kind]), f"{tide.dap[kind]:.4f}")
    return Group(
        table,
        Text(
            f"dAP: the AP50 gained by fixing that type alone (TIDE's AP50 {tide.ap50:.3f}; foreground IoU "
            f"{tide.foreground:g}, background {tide.background:g}).\nBest F1 {best.best_f1:.3f} at conf "
            f"{best.best_conf:.3f} (precision {best.best_precision:.3f}, recall {best.best_recall:.3f})."
        ),
    )


def differences_tables(analysis) -> list[Table]:  # type: ignore[no-untyped-def]
    """Per pair of models, per TIDE error type at --conf: each one's errors, how many of them the
    other does not make, and each one's dAP."""
    tables = []
    place = {name: k for k, name in enumerate(analysis.names)}
    for diff in analysis.differences:
        dap_a, dap_b = analysis.analyses[place[diff.a]].tide.dap, analysis.analyses[place[diff.b]].tide.dap
        table = Table(
            title=Text(f"a = {diff.a}, b = {diff.b}: errors one makes and the other does not"), title_justify="left"
        )
        for column in ("type", "a", "only a", "b", "only b", "dAP a", "dAP b"):
            table.add_column(column, justify="left" if column == "type" else "right")
        for kind in diff.kinds:
            table.add_row(
                kind.kind,
                str(kind.a_errors),
                str(kind.a_only),
                str(kind.b_errors),
                str(kind.b_only),
                f"{dap_a[kind.kind]:.4f}",
                f"{dap_b[kind.kind]:.4f}",
            )
        tables.append(table)
    return tables


# Rows of the comparison table: (label, key, format, which value is best: "max", "min" or None).
COMPARE_ROWS = (
    ("family", "family", "{}", None),
    ("head", "head", "{}", None),
    ("runtime", "runtime_display", "{}", None),
    ("letterbox", "letterbox", "{}", None),
    ("params (M)", "params_m", "{:.2f}", None),
    ("GFLOPs", "gflops", "{:.1f}", None),
    ("weights (MB)", "file_mb", "{:.1f}", None),
    ("load (s)", "load_s", "{:.2f}", "min"),
    ("warm-up (ms)", "warmup_ms", "{:.1f}", None),
    ("images", "images", "{}", None),
    ("failed", "failed", "{}", None),
    ("detections", "detections", "{}", None),
    ("preprocess ms (mean)", "preprocess_mean", "{:.1f}", "min"),
    ("inference ms (mean)", "inference_mean", "{:.1f}", "min"),
    ("postprocess ms (mean)", "postprocess_mean", "{:.1f}", "min"),
    ("total ms p50", "total_p50", "{:.1f}", "min"),
    ("total ms p95", "total_p95", "{:.1f}", "min"),
    ("images/s", "images_per_s", "{:.1f}", "max"),
    ("passes at --max-det", "passes_at_max_det", "{:,}", None),  # only when a cap was reached
    ("cut by --max-det-image", "cut_by_max_det_image", "{:,}", None),
    ("mAP50", "map50", "{:.3f}", "max"),
    ("mAP50-95", "map50_95", "{:.3f}", "max"),
    ("precision", "precision", "{:.3f}", "max"),
    ("recall", "recall", "{:.3f}", "max"),
)


def comparison_tables(report: dict) -> list[Table]:
    models = report["models"]
    s = report.get("settings", {})
    title = (
        f"{s.get('images', '?')} images · imgsz {s.get('imgsz')} · conf {s.get('conf')} · "
        f"device {s.get('device')} · {_plural(s.get('threads'), 'thread')}"
    )
    main = Table(title=Text(title), title_justify="left", min_width=len(title))  # the title on one line
    main.add_column("")
    for m in models:
        main.add_column(Text(m["name"]), justify="right")
    for label, key, fmt, best in COMPARE_ROWS:
        values = [m.get(key) for m in models]
        if all(v is None for v in values):
            continue
        numbers = [v for v in values if isinstance(v, (int, float))]
        target = (max(numbers) if best == "max" else min(numbers)) if best and len(numbers) > 1 else None
        cells = [Text("-" if v is None else fmt.format(v), style="bold green" if v == target else "") for v in values]
        main.add_row(label, *cells)

    counts = Table(title="Detections per class", title_justify="left")
    counts.add_column("class")
    for m in models:
        counts.add_column(Text(m["name"]), justify="right")
    names = sorted({c for m in models for c in m["class_counts"]})
    for name in names:
        counts.add_row(Text(name), *(str(m["class_counts"].get(name, 0)) for m in models))

    agreement = Table(title="Agreement (same class, IoU >= 0.5, optimal one-to-one matching)", title_justify="left")
    for column in ("reference", "model", "matched", "precision", "recall", "F1", "mean IoU"):
        agreement.add_column(column, justify="left" if column in {"reference", "model"} else "right")
    for pair in report["agreement"]:
        iou = "-" if pair["mean_iou"] is None else f"{pair['mean_iou']:.3f}"
        numbers = [f"{pair[k]:.3f}" for k in ("precision", "recall", "f1")]
        agreement.add_row(Text(pair["reference"]), Text(pair["model"]), str(pair["matched"]), *numbers, iou)
    tables = [main]
    if names:
        tables.append(counts)
    if report["agreement"]:
        tables.append(agreement)
    return tables


def _plural(n: object, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
