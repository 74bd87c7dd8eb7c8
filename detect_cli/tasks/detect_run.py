"""Running a validated `DetectPlan`: what `attn-detect detect` does once the model is open, for any caller.

The results file is prepared (its settings recorded beside it; with --resume checked against them,
repaired, and the inputs it has skipped), a watch is opened for --watch, the sinks are opened, and the
plan's `DetectJob` is driven over the sources (`tasks/driver.drive`: Ctrl-C and the exit code). With
--out DIR/ on Ray, the workers write JSONL shards instead. What a person should hear (notes, warnings,
the progress bar's steps) goes to a `Listener`; the library itself prints nothing but the records a
data format writes to stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from detect_cli.pipeline.run_summary import RunSummary
from detect_cli.tasks.driver import Outcome, drive

if TYPE_CHECKING:
    from detect_cli.core.results import ImageResult
    from detect_cli.models.detector import Detector
    from detect_cli.outputs.sinks import Sink
    from detect_cli.tasks.plan import DetectPlan
    from detect_cli.tasks.watch import WatchRun


def _silent(*_args: Any, **_kwargs: Any) -> None:
    return None


@dataclass(frozen=True)
class Listener:
    """What a run tells its caller besides its records (the CLI: notes, warnings, its progress bar).
    Each does nothing unless given."""

    note: Callable[[str], None] = _silent  # what was done ("resuming ...", where files were written)
    warn: Callable[[str], None] = _silent  # what went wrong without stopping the run
    status: Callable[[str], None] = _silent  # a step with no count ("running on Ray…")
    describe: Callable[[str], None] = _silent  # the watch's "N waiting"
    # the counted part begins: "detecting" or "watching", the inputs a resumed file has (skipped), and
    # index -> last frame of its videos cut short (continued)
    started: Callable[[str, Collection[int], Mapping[int, int]], None] = _silent


def run_plan(
    plan: DetectPlan,
    detector: Detector,
    sources: Any,
    on_result: Callable[[ImageResult], None] | None = None,
    listener: Listener | None = None,
    *,
    stdout: TextIO | None = None,
    stdin: TextIO | None = None,
) -> Outcome:
    """Run `plan` (validated) with `detector` over `sources` (what `python_sources` takes); `on_result`
    hears each record after the sinks wrote it. A data format without --out writes to `stdout`."""
    heard = listener or Listener()
    stdin = sys.stdin if stdin is None else stdin
    output = plan.output
    if output.sharded:
        return _run_sharded(plan, detector, sources, heard, stdin)
    done, videos_done = _prepare_output(plan, detector, heard.note)
    if plan.watch:
        done, videos_done = {}, {}  # a watch skips by file and version, not by position (tasks/watch.py)
    spatial = plan.spatial()
    if spatial is not None and done:  # --resume: occupancy, time in zone and heatmaps go on from the file
        from detect_cli.tasks.replay import recorded_results

        assert output.out_file is not None and output.format is not None
        for result in recorded_results(output.out_file, output.format, detector.names):
            spatial.observe(result)
    heard.started(
        "watching" if plan.watch else "detecting",
        done.keys() - videos_done.keys(),
        {i: last for i, (last, _) in videos_done.items()},
    )
    with ExitStack() as stack:
        so_far = RunSummary()  # the job's summary, which the watch's and the sources' notes add to
        watching = _open_watch(plan, heard, so_far) if plan.watch else None
        sinks: list[Sink] = []
        if output.format:
            sinks.append(_open_sink(plan, detector, stack, watching, stdout or sys.stdout))
        job = plan.job(
            detector,
            spatial=spatial,
            ray=plan.ray_options(),
            done=done,
            videos_done=videos_done,
            keep_pixels=any(getattr(sink, "wants_pixels", False) for sink in sinks),
            stages=(watching.watch.records,) if watching else (),
            summary_so_far=so_far,
        )
        items = watching.watch if watching else _sources(plan, sources, stdin, skip_notes(so_far, heard.note))
        outcome = drive(job, items, sinks, on_result)
        for sink in sinks:  # a label format's: where its files are, and what to do to import them
            for line in getattr(sink, "notes", list)():
                heard.note(line)
        return outcome


def _open_sink(
    plan: DetectPlan, detector: Detector, stack: ExitStack, watching: WatchRun | None, stdout: TextIO
) -> Sink:
    from detect_cli.outputs.formats import open_results, open_sink
    from detect_cli.tasks.detect import run_metadata

    output = plan.output
    assert output.format is not None
    append = plan.resume and output.out_file is not None and output.out_file.exists()
    stream = (
        None
        if output.format == "yolo"
        else stack.enter_context(open_results(output.out_file, append))
        if output.out_file
        else stdout
    )
    return open_sink(
        output.format,
        stream,
        run_metadata(plan.settings, detector, tracker=plan.tracking, video=plan.video()),
        appending=append,
        layout=watching.layout() if watching else None,
        out=output.out_file,
        labels=output.labels,
    )


def _sources(plan: DetectPlan, sources: Any, stdin: TextIO, on_skip: Callable[[str, str], None]) -> Iterable[Any]:
    from detect_cli.inputs.arrays import python_sources

    settings = plan.settings
    return python_sources(
        sources, recursive=settings.recursive, max_pixels=settings.max_pixels, stdin=stdin, on_skip=on_skip
    )


def skip_notes(summary: RunSummary, note: Callable[[str], None]) -> Callable[[str, str], None]:
    """Each input skipped (not an image) joins the summary; the first five are said."""

    def on_skip(ref: str, reason: str) -> None:
        summary.skipped.append((ref, reason))
        if len(summary.skipped) <= 5:
            note(f"skipping {ref}: {reason}")
        elif len(summary.skipped) == 6:
            note("skipping more non-image files (listed in the summary of --format json)")

    return on_skip


def _open_watch(plan: DetectPlan, heard: Listener, summary: RunSummary) -> WatchRun:
    from detect_cli.tasks.watch import open_watch

    def gone(path: str, why: str) -> None:
        summary.skipped.append((path, why))
        heard.note(f"{path}: {why}")

    return open_watch(
        plan.sources,
        recursive=plan.settings.recursive,
        out_file=plan.output.out_file,
        resume=plan.resume,
        on_skip=skip_notes(summary, heard.note),
        on_gone=gone,
        on_waiting=heard.describe,
        say=heard.note,
        on_folder=heard.warn,
    )


def _run_sharded(plan: DetectPlan, detector: Detector, sources: Any, heard: Listener, stdin: TextIO) -> Outcome:
    """--out DIR/ on Ray: the workers write JSONL shards and the driver `manifest.json`."""
    from detect_cli.models.open import predict_options, read_options
    from detect_cli.pipeline.ray.driver import ray_detect_to_shards
    from detect_cli.pipeline.slicing import slice_options
    from detect_cli.tasks.detect import run_metadata

    settings, out_dir = plan.settings, plan.output.out_file
    assert out_dir is not None
    heard.status("running on Ray…")
    summary = ray_detect_to_shards(
        _sources(plan, sources, stdin, _silent),
        detector,
        predict_options(settings, detector),
        out_dir,
        read_options=read_options(settings),
        batch=settings.batch,
        ray_options=plan.ray_options(),
        metadata=run_metadata(settings, detector),
        slicing=slice_options(settings),
    )
    heard.note(f"sharded results and manifest.json written to {out_dir}")
    return Outcome(summary, summary.interrupted, bool(summary.failed or summary.unsaved))


def _prepare_output(
    plan: DetectPlan, detector: Detector, note: Callable[[str], None]
) -> tuple[dict[int, str], dict[int, tuple[int, int]]]:
    """Record the run's settings beside a JSONL/CSV file; with --resume, check and repair it first.
    Returns index -> source of the inputs already in the file, and index -> (last frame, largest
    track id) of the videos cut short. Devices and FIFOs get no sidecar."""
    from detect_cli.outputs.formats import open_results
    from detect_cli.tasks.resume import RESUMABLE, fingerprint, prepare_resume, write_sidecar

    output = plan.output
    out_file: Path | None = output.out_file
    if out_file is None or output.format not in RESUMABLE or not output.regular_out:
        return {}, {}  # --resume of these is refused by the plan
    fp = {
        **fingerprint(plan.settings, detector),
        **plan.video().fingerprint(),
        **({"tracker": plan.tracking} if plan.tracking else {}),
        **({"watch": True} if plan.watch else {}),
    }
    if plan.resume and out_file.exists():
        state = prepare_resume(out_file, output.format, fp, retry_failed=plan.retry_failed)
        repaired = " (repaired a cut last record)" if state.dropped_partial else ""
        retried = f", {state.retried} failed to run again" if state.retried else ""
        videos = f", {len(state.videos)} video(s) continued after their last frame" if state.videos else ""
        note(f"resuming {out_file}: {state.kept - len(state.videos)} input(s) already done{videos}{retried}{repaired}")
        return state.done, state.videos
    with open_results(out_file, append=True):  # can it be written? Else the old sidecar stays as it was
        pass
    write_sidecar(out_file, fp, output.format)
    return {}, {}
