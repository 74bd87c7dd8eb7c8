"""The evaluate task: detect on labelled images at a low confidence (mAP needs the whole curve), then
score them. Its records are the per-class rows, the "all" row last; `report` holds the whole score."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.core.settings import DetectSettings
from detect_cli.evaluation.labels import Labels
from detect_cli.evaluation.metrics import EvalReport, evaluate
from detect_cli.evaluation.predictions import Prediction
from detect_cli.inputs.sources import Source, stills_only, type_name
from detect_cli.models.detector import Detector
from detect_cli.outputs.guards import check_folder
from detect_cli.outputs.records import Layout
from detect_cli.tasks.detect import DetectJob

if TYPE_CHECKING:
    from detect_cli.evaluation.analysis import Analysis

CSV_COLUMNS = ("class", "instances", "detections", "precision", "recall", "map50", "map50_95")
# evaluate's records: one per class, the "all" row last (what its table shows); the summary has the rest
EVALUATION = Layout("classes", CSV_COLUMNS)
MAP_CONF = 0.001  # mAP needs the whole precision-recall curve, as in Ultralytics' val


def check_evaluation(labels: object, tracks: object, save: Path | None, attention: bool) -> None:
    """What an evaluation scores against and what it draws go together (ConfigError, the CLI's message)."""
    if (labels is None) == (tracks is None):
        raise ConfigError("give --labels (boxes: mAP) or --tracks (MOT ground truth: IDF1, MOTA), one of them")
    if tracks is not None and save is not None:
        raise ConfigError("--save draws box evaluations: it goes with --labels, not --tracks")
    if attention and save is None:
        raise ConfigError("--attention draws on the worst images of --save", "give --save DIR too")
    check_folder(save)


def evaluation_metadata(settings: DetectSettings, detector: Detector, labels: str) -> dict[str, Any]:
    """What evaluate's JSON document says about how it was made (the CLI's and Python's alike)."""
    return {
        "command": "evaluate",
        "model": detector.ref.spec,
        "runtime": {"name": detector.backend, "precision": detector.precision, "reason": detector.backend_reason},
        "letterbox": detector.letterbox_ran(settings.letterbox),
        "labels": labels,
        "conf": settings.conf,
    }


@dataclass
class EvaluateJob:
    """Run a model on labelled images and score it; usable from Python. `run(sources)` detects at a
    low confidence (mAP needs the whole curve) and returns the report; precision and recall count
    the boxes at `settings.conf`. `on_result` hears every image as it is done."""

    layout: ClassVar[Layout] = EVALUATION

    settings: DetectSettings
    detector: Detector
    labels: Labels
    on_result: Callable[[ImageResult], None] | None = None
    # `analysis.analyse`'s options (worst, matrix_conf, matrix_iou): the summary then carries the
    # numbers behind --save's pictures (curves, confusion matrix, TIDE errors, worst images)
    analysis_options: dict[str, Any] | None = None

    report: EvalReport | None = field(default=None, init=False)
    predictions: list[Prediction] = field(default_factory=list, init=False)
    _analysis: Analysis | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.labels, Labels):
            raise TypeError(
                f"EvaluateJob(labels): expected the ground truth as Labels, got {type_name(self.labels)} "
                "(detect_cli.Labels.load(path, detector.names), from a COCO JSON or a folder of YOLO labels)"
            )

    def run(self, sources: Iterable[Source]) -> EvalReport:
        """Evaluate every source and return the report (Ctrl-C: the report of the images done)."""
        from detect_cli.tasks.driver import drive

        drive(self, sources)
        assert self.report is not None
        return self.report

    def records(self, sources: Iterable[Source]) -> Iterator[dict[str, Any]]:
        predictions: list[Prediction] = []
        self.report, self._analysis = None, None  # each call is a run of its own
        # mAP needs every box; pictures are evaluate's own (a config's --show or --save-crop is detect's)
        low = replace(
            self.settings,
            conf=min(self.settings.conf, MAP_CONF),
            class_conf=None,
            show=False,
            save_crop=None,
            redact=None,
        )
        stills = stills_only(
            sources,
            "a video: box labels are per image file (score a video's tracks with "
            "evaluate --tracks gt.txt, or its frames saved as images)",
        )
        detect = DetectJob(low, self.detector)
        interrupted = False
        try:
            for result in detect.records(stills):
                if result.ok:
                    prediction = Prediction.from_result(result)
                    self.labels.find(prediction)  # a malformed label file stops the run now, not after the last image
                    predictions.append(prediction)
                if self.on_result is not None:
                    self.on_result(result)
        except KeyboardInterrupt:
            interrupted = True  # score what is done: the report still comes out, and the driver says 130
        self.report = evaluate(predictions, self.labels, conf=self.settings.conf)
        self.report.run = detect.summary(interrupted)
        self.predictions = predictions
        yield from self.report.rows()
        if interrupted:
            raise KeyboardInterrupt

    def summary(self, interrupted: bool = False) -> dict[str, Any]:
        """What the JSON document ends with: the report without its per-class rows (those are the records)."""
        if self.report is None:
            return {"interrupted": interrupted}
        summary = {k: v for k, v in self.report.as_dict().items() if k != "classes"}
        if self.analysis_options is not None:
            summary["analysis"] = self.analysis().as_dict()
        return summary

    def analysis(self) -> Analysis:
        """Curves, confusion matrix, TIDE errors and worst images of the images done (made once)."""
        if self._analysis is None:
            from detect_cli.evaluation.analysis import analyse
            from detect_cli.evaluation.errors import pair_up

            self._analysis = analyse(
                pair_up(self.predictions, self.labels),
                self.detector.names,
                conf=self.settings.conf,
                **(self.analysis_options or {}),
            )
        return self._analysis

    def incomplete(self) -> bool:
        return bool(self.report is not None and self.report.run is not None and self.report.run.failed)
