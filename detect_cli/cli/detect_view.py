"""How `attn-detect detect` shows a run: per-image tables as results come, what each result says on
stderr, the notes after the run, and the summary tables (stdout beside the per-image tables, else
stderr; none with --quiet). Nothing here decides anything: the plan and the run did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from detect_cli.cli import render
from detect_cli.cli.console import err, note, out, warn

if TYPE_CHECKING:
    from collections.abc import Callable

    from detect_cli.cli.progress import RunProgress
    from detect_cli.core.results import ImageResult
    from detect_cli.models.detector import Detector
    from detect_cli.pipeline.run_summary import RunSummary
    from detect_cli.tasks.detect_run import Listener
    from detect_cli.tasks.plan import DetectPlan


class TablePrinter:
    """Prints per-image tables for the first `limit` images (-1: all), so big runs don't flood."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count, self.hidden = limit, 0, False

    def __call__(self, result: ImageResult) -> None:
        if not result.ok or result.frame is not None:  # a video gets its summary at the end, not a table a frame
            return
        self.count += 1
        if self.limit < 0 or self.count <= self.limit:
            out().print(render.boxes_table(result))
        elif self.limit > 0:
            self.hidden = True


def listener(bar: RunProgress) -> Listener:
    """The run's notes and warnings on stderr, its steps on the progress bar."""
    from detect_cli.tasks.detect_run import Listener

    return Listener(
        note=note,
        warn=warn,
        status=lambda text: bar.status(text, quiet=True),
        describe=bar.describe,
        started=lambda kind, done, partial: bar.start(kind, done=done, partial=partial),
    )


def on_result(bar: RunProgress, tables: TablePrinter) -> Callable[[ImageResult], None]:
    def heard(result: ImageResult) -> None:
        bar.advance()  # an image, or a video's frame: the bar counts frames when it has videos
        if not result.ok:
            warn(f"{result.source}: {result.error}")
        for warning in result.warnings:
            note(f"{result.source}: {warning}")
        for kind, why in result.unsaved:  # a file not saved is a failure (exit 3)
            warn(f"{result.source}: {kind.value}: {why}")
        tables(result)

    return heard


def after_run(plan: DetectPlan, summary: RunSummary, tables: TablePrinter, *, quiet: bool) -> None:
    """What the user should know once the run ended: hidden tables, where files went, why it stopped."""
    if plan.output.sharded:
        return
    if tables.hidden:
        note(f"box tables shown for the first {plan.settings.tables} images; --tables -1 shows all")
    if plan.count_line is not None and not summary.videos:
        warn("--count-line counted nothing: it counts in videos and streams, and none was read")
    if plan.save is not None and not quiet:
        note(f"annotated images written to {plan.save}")
    if plan.settings.save_crop and not quiet:
        note(f"crops written to {plan.settings.save_crop}/<class>/")
    if summary.stopped:
        note(f"stopped early: {summary.stopped} (the records so far are kept)")
    if summary.heatmaps and not quiet:
        note(f"{len(summary.heatmaps)} heatmap(s) (.png and .npy) written to {plan.heatmap}")


def summary_tables(
    summary: RunSummary, detector: Detector, imgsz: int | None, *, to_stdout: bool, letterbox: str | None = None
) -> None:
    """The run's summary tables: counts, videos, zones, the run, failures and files not saved. `letterbox`:
    the --letterbox setting (the run table says which one the pictures ran at)."""
    console = out() if to_stdout else err()
    console.print(render.counts_table(summary))
    if summary.videos:
        console.print(render.videos_table(summary))
    for table in render.zones_tables(summary):
        console.print(table)
    ran = detector.letterbox_ran(letterbox) if letterbox else None
    console.print(render.run_table(summary, detector.ref.spec, render.backend_text(detector), imgsz, ran))
    if summary.failed:
        console.print(render.failures_table(summary))
    if summary.unsaved:
        console.print(_unsaved_table(summary.unsaved))


def _unsaved_table(rows: list[tuple[str, str]]) -> Table:
    table = Table(
        title=f"Not saved ({len(rows)}; detections kept in the results)", title_justify="left", title_style="red"
    )
    table.add_column("input", overflow="fold")
    table.add_column("warning", overflow="fold")
    for source, warning in rows:
        table.add_row(Text(source), Text(warning))
    return table
