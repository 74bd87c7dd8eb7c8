"""Scoring a tracker (`attn-detect evaluate --tracks gt.txt`): detect and track one sequence, write its
MOT rows, and score them against MOTChallenge ground truth (IDF1, MOTA, ID switches) on the frames
that ran. The command and `Model.evaluate(source, tracks=...)` both run it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detect_cli.core.results import ImageResult
from detect_cli.core.settings import DetectSettings
from detect_cli.evaluation.track_scores import MotRows, check_truth, read_mot, score_tracks
from detect_cli.inputs.sources import Source
from detect_cli.inputs.video import VideoOptions
from detect_cli.models.detector import Detector
from detect_cli.outputs.mot import MotSink
from detect_cli.outputs.records import Layout
from detect_cli.tasks.detect import DetectJob
from detect_cli.tasks.driver import Outcome, drive


def read_truth(path: Path) -> MotRows:
    """The ground truth's rows, checked (ConfigError naming the file): before any model loads."""
    rows = read_mot(path)
    check_truth(rows)
    return rows


@dataclass(frozen=True)
class TrackEvaluation:
    """How a tracked sequence scored: `record` (what `--format json` writes: model, tracker, frames and
    the scores), and the run's `outcome` (its summary and exit code)."""

    record: dict[str, Any]
    scores: dict[str, Any]  # motmetrics' figures (idf1, mota, num_switches, ...)
    frames: int
    outcome: Outcome

    @property
    def layout(self) -> Layout:
        return Layout("sequences", tuple(self.record))


def evaluate_tracks(
    settings: DetectSettings,
    detector: Detector,
    truth: MotRows,
    sources: Iterable[Source],
    *,
    truth_name: str,
    tracker: str,
    stride: int = 1,
    on_result: Callable[[ImageResult], None] | None = None,
) -> TrackEvaluation:
    """Detect and track the sequence in `sources` (every `stride`-th frame), then score its tracks."""
    rows = io.StringIO()
    frames: list[int] = []

    def keep(result: ImageResult) -> None:
        if result.ok:
            frames.append(result.frame + 1 if result.frame is not None else len(frames) + 1)
        if on_result is not None:
            on_result(result)

    job = DetectJob(settings, detector, video=VideoOptions(stride=stride), track=tracker)
    outcome = drive(job, sources, [MotSink(rows)], keep)
    scores = score_tracks(truth, rows.getvalue(), frames=frames)
    record = {"model": detector.ref.spec, "tracks": truth_name, "tracker": tracker, "frames": len(frames), **scores}
    return TrackEvaluation(record, scores, len(frames), outcome)
