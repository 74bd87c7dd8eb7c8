"""What `Model.evaluate` and `detect_cli.compare` return: reports whose `to_dict()` is the document
`--format json` writes (made by the same sink, so the two cannot drift apart), with the figures a
script reads most as attributes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from detect_cli.outputs.records import Layout
from detect_cli.outputs.sinks import JsonSink
from detect_cli.tasks.driver import Task, drive

if TYPE_CHECKING:
    from detect_cli.evaluation.metrics import EvalReport


def document(task: Task, sources: Iterable[Any], layout: Layout, meta: dict[str, Any]) -> dict[str, Any]:
    """Run `task` and return the JSON document `--format json` would write for it."""
    text = io.StringIO()
    outcome = drive(task, sources, [JsonSink(text, meta, layout)])
    if outcome.interrupted:
        raise KeyboardInterrupt
    return json.loads(text.getvalue())  # type: ignore[no-any-return]


class Report:
    """A finished run's report. `to_dict()`: the document `--format json` writes (a copy)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._doc))  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> Any:
        return self._doc[key]


class EvaluationReport(Report):
    """`Model.evaluate`'s report: `map50`, `map50_95`, `precision`, `recall` (the "all" row),
    `classes` (each class's row, the "all" row last, as the table), `notes` (about the labels),
    `report` (the full `EvalReport`)."""

    def __init__(self, doc: dict[str, Any], report: EvalReport, notes: Sequence[str] = ()) -> None:
        super().__init__(doc)
        self.report = report
        self.notes = list(notes)
        overall = report.overall
        self.map50, self.map50_95 = overall.map50, overall.map50_95
        self.precision, self.recall = overall.precision, overall.recall

    @property
    def classes(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._doc["classes"]]

    def __repr__(self) -> str:
        return f"EvaluationReport(mAP50={self.map50:.3f}, mAP50-95={self.map50_95:.3f})"


class TrackReport(Report):
    """`Model.evaluate(source, tracks=...)`'s report: `idf1`, `mota`, `switches` (identity switches) and
    `scores` (every motmetrics figure), on the frames that ran (`frames`)."""

    @property
    def scores(self) -> dict[str, Any]:
        (record,) = self._doc["sequences"]
        return {k: v for k, v in record.items() if k not in {"model", "tracks", "tracker", "frames"}}

    @property
    def idf1(self) -> float | None:
        return self.scores["idf1"]  # type: ignore[no-any-return]

    @property
    def mota(self) -> float | None:
        return self.scores["mota"]  # type: ignore[no-any-return]

    @property
    def switches(self) -> int:
        return self.scores["num_switches"]  # type: ignore[no-any-return]

    @property
    def frames(self) -> int:
        return self._doc["sequences"][0]["frames"]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        idf1, mota = self.idf1, self.mota
        shown = ", ".join(f"{k}={v:.3f}" if v is not None else f"{k}=None" for k, v in (("IDF1", idf1), ("MOTA", mota)))
        return f"TrackReport({shown}, {self.switches} ID switches)"


class ComparisonReport(Report):
    """`detect_cli.compare`'s report: `models` (one row per model: speed, counts, and with labels
    mAP50, mAP50-95, precision, recall), `map50` (model name -> mAP50, with labels), `agreement`
    (each pair of models), `images` (each input's record: every model's boxes)."""

    @property
    def models(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._doc["summary"]["models"]]

    @property
    def map50(self) -> dict[str, float]:
        return {row["name"]: row["map50"] for row in self.models if row.get("map50") is not None}

    @property
    def agreement(self) -> list[dict[str, Any]]:
        return [dict(pair) for pair in self._doc["summary"].get("agreement", [])]

    @property
    def images(self) -> list[dict[str, Any]]:
        return [dict(record) for record in self._doc["images"]]

    def __repr__(self) -> str:
        return f"ComparisonReport({', '.join(row['name'] for row in self.models)})"
