"""Rich tables for people. Pure: results in, renderables out."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from detect_cli.results import STAGES, ImageResult, RunSummary


def boxes_table(result: ImageResult) -> Table:
    title = Text.assemble((result.name or result.source, "bold"), f"  {result.width}x{result.height}  ",
                          f"{len(result.detections)} detection(s)")  # fmt: skip
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, min_width=len(title))
    table.add_column("class")
    table.add_column("conf", justify="right")
    for column in ("x1", "y1", "x2", "y2"):
        table.add_column(column, justify="right")
    for box, conf, cls in result.detections.sorted_by_confidence():
        table.add_row(Text(result.class_name(cls)), f"{conf:.2f}", *(f"{v:.1f}" for v in box))
    return table


def counts_table(summary: RunSummary) -> Table:
    table = Table(title="Detections per class", title_justify="left", show_footer=True)
    table.add_column("class", footer="total")
    table.add_column("count", justify="right", footer=str(summary.detections))
    for name, count in sorted(summary.class_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(Text(name), str(count))
    return table


def run_table(summary: RunSummary, model: str) -> Table:
    table = Table(title="Run", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("model", Text(model))
    table.add_row("images processed", str(summary.images))
    table.add_row("images failed", Text(str(summary.failed), style="red" if summary.failed else ""))
    per_image = summary.ms_per_image()
    for stage in STAGES:
        table.add_row(f"{stage} ms/image", f"{per_image[stage]:.1f}")
    table.add_row("wall time", f"{summary.wall_s:.2f} s")
    if summary.interrupted:
        table.add_row("status", Text("interrupted", style="yellow"))
    return table


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
        table.add_column(column, justify=justify)  # fmt: skip
    for score in [*report.classes, report.overall]:
        style = "bold" if score is report.overall else ""
        table.add_row(
            Text(score.name), str(score.instances), str(score.detections), f"{score.precision:.3f}",
            f"{score.recall:.3f}", f"{score.map50:.3f}", f"{score.map50_95:.3f}", style=style,
        )  # fmt: skip
    return table
