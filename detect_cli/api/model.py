"""`detect_cli.Model`: a detector opened once, called on anything the CLI takes and on in-memory images.

    import detect_cli
    model = detect_cli.Model("demo-rtdetr")
    results = model("sample_images/shapes/shape_00003.jpg")
    print(f"Detected {len(results[0].boxes)} objects using attention-based detection.")

The model is opened as every command opens it (`models/open.open_model`: the same lookup, restricted
loading, the verified runtime and its cache), with settings named as in `--config` and checked by the
same rules and messages (`core/settings.py`, `tasks/plan.py`). Each call is a run of its own: calling
twice gives the same answer twice.

Long because the model object is the whole Python face of the commands (detect as a call, a stream or
a whole run; evaluate, attention, export); each method is a few lines over the task that does the work.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from detect_cli.api.explanations import Explanation, Explanations
from detect_cli.api.reports import EvaluationReport, TrackReport, document
from detect_cli.api.results import Result, Results
from detect_cli.core.choices import ENGINES, TRACKERS
from detect_cli.core.errors import ConfigError
from detect_cli.core.settings import FLAGS, DetectSettings, load_settings, validate
from detect_cli.inputs.arrays import python_sources
from detect_cli.inputs.sources import type_name
from detect_cli.models.open import open_model, predict_options, read_options
from detect_cli.outputs.guards import check_folder
from detect_cli.tasks.plan import DetectPlan, spatial_flags

if TYPE_CHECKING:
    from detect_cli.models.detector import Detector, PredictOptions
    from detect_cli.tasks.driver import Outcome

# Settings a call cannot change: they decide which model is loaded and how (give them to Model(...)).
OPENING = frozenset(
    {"model", "weights_dir", "backend", "precision", "calibration", "device", "half", "threads", "imgsz"}
)


class Model:
    """A detector, opened once: `Model(spec, **settings)`.

    `spec`: an alias (`demo`, `demo-rtdetr`, `yolo26n`, `rtdetr-l`), a checkpoint (.pt), a model YAML, or
    an export (.onnx, an OpenVINO folder, ...), found as `--model` finds it. `settings`: any key of
    `configs/default.yaml` (`conf=0.4`, `classes=["person"]`, `slice="auto"`, `backend="torch"`, ...),
    checked as the CLI checks flags; `config`: a YAML file of them (a keyword wins over it).
    `trust_model`: load a checkpoint that carries code (only from a source you trust).
    Raises `detect_cli.AttnDetectError` (a `ConfigError` for a bad setting, `ModelLoadError` for a
    model that cannot be found or loaded), with the message the CLI prints."""

    def __init__(
        self,
        spec: str | os.PathLike[str],
        *,
        config: str | os.PathLike[str] | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
        trust_model: bool = False,
        **settings: Any,
    ) -> None:
        if not isinstance(spec, (str, os.PathLike)):
            raise TypeError(f"Model(spec): expected a model name or path (str or Path), got {type_name(spec)}")
        if config is not None and not isinstance(config, (str, os.PathLike)):
            raise TypeError(f"Model(config): expected a YAML file's path, got {type_name(config)}")
        requested = load_settings(Path(config) if config is not None else None, {**settings, "model": os.fspath(spec)})
        opened = open_model(requested, weights_dir=weights_dir, trust_model=trust_model, iou_given="iou" in settings)
        self.detector: Detector = opened.detector
        self.settings: DetectSettings = opened.settings  # as it runs: imgsz resolved
        self.requested = requested  # as given (imgsz None: the model's own)
        self.notes: list[str] = list(opened.notes)  # what the CLI would warn about (a resized imgsz, ...)
        self._opening = {"weights_dir": weights_dir, "trust_model": trust_model}
        self._torch: Detector | None = None

    @property
    def names(self) -> dict[int, str]:
        """The model's class names by class id."""
        return self.detector.names

    @property
    def spec(self) -> str:
        return self.detector.ref.spec

    @property
    def runtime(self) -> str:
        """Where it runs and why, as the CLI's run table says (e.g. `openvino (verified F1 1.000, ...)`)."""
        return self.detector.runtime

    def __repr__(self) -> str:
        return f"Model({self.spec!r}, runtime={self.detector.backend!r}, imgsz={self.settings.imgsz})"

    def __call__(self, source: Any, **settings: Any) -> Results:
        """Detect on `source`: a path, folder, glob or URL (str or Path), a NumPy array (BGR, as
        `cv2.imread` gives) or PIL image, or a list mixing them. Returns one `Result` per image (a
        video: per frame; prefer `stream` for videos and big folders, which keeps nothing).
        `settings` change this call only (`conf`, `iou`, `classes`, `max_det`, `slice`, ...)."""
        return Results(self.stream(source, **settings))

    predict = __call__

    def stream(
        self,
        source: Any,
        *,
        track: bool | str = False,
        count_line: str | None = None,
        heatmap: str | os.PathLike[str] | None = None,
        save: str | os.PathLike[str] | None = None,
        vid_stride: int | None = None,
        start: float | None = None,
        end: float | None = None,
        **settings: Any,
    ) -> Iterator[Result]:
        """Results as they are done, one per image or video frame, holding one at a time: for videos,
        streams (`rtsp://...`, `webcam:0`) and big folders. As `attn-detect detect`: `track` (True, or a
        tracker name) gives track ids; `count_line="X1,Y1,X2,Y2"` counts tracks crossing it; zones
        (`zones=["door=0,0,50%,100%"]`) count per zone; `heatmap` writes maps into that folder; `save`
        writes annotated images and videos there; `vid_stride`, `start`, `end` choose frames."""
        spatial_flags(None, None, settings.get("heatmap_classes"), heatmap=_path(heatmap, "heatmap"))
        run = self._settings(settings)
        plan = DetectPlan(
            run,
            save=_path(save, "save"),
            track=bool(track),
            tracker=track if isinstance(track, str) else "botsort",
            count_line=count_line,
            heatmap=_path(heatmap, "heatmap"),
            vid_stride=vid_stride,
            start=start,
            end=end,
        ).validate()
        sources = python_sources(source, recursive=run.recursive, max_pixels=run.max_pixels)
        return self._results(plan, sources)

    def _results(self, plan: DetectPlan, sources: Iterator[Any]) -> Iterator[Result]:
        job = plan.job(self.detector, keep_pixels=True)
        for result in job.records(sources):
            yield Result(result)

    def run(
        self,
        source: Any,
        out: str | os.PathLike[str] | None = None,
        *,
        format: str | None = None,
        resume: bool = False,
        retry_failed: bool = False,
        engine: str = "local",
        address: str | None = None,
        actors: int = 1,
        gpus_per_actor: float = 0.0,
        track: bool | str = False,
        save: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Outcome:
        """The whole `attn-detect detect` run, its results written as the command writes them: to `out`
        (the format from its extension, or `format`), or to stdout in `format`. `engine="ray"` runs on a
        Ray cluster (`address`, `actors`, `gpus_per_actor`), and with `out` a folder (`"shards/"`) its
        workers write JSONL shards and a manifest; `resume=True` continues `out` where it stopped. The
        other options are `stream`'s and the settings (`conf`, `zones`, ...). Refused as the CLI refuses
        (the same plan, `tasks/plan.py`), an output that would replace an input included. Returns the
        run's `Outcome`: its `summary` and the `exit_code` the command would end with."""
        from detect_cli.tasks.detect_run import run_plan

        if engine not in ENGINES:
            raise ConfigError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
        plan_options = {k: options.pop(k) for k in PLAN_OPTIONS & options.keys()}
        if "heatmap" in plan_options:
            plan_options["heatmap"] = _path(plan_options["heatmap"], "heatmap")
        spatial_flags(None, None, options.get("heatmap_classes"), heatmap=plan_options.get("heatmap"))
        plan = DetectPlan(
            self._settings(options),
            sources=_arguments(source),
            format=format,
            out=_text(out, "out"),
            save=_path(save, "save"),
            track=bool(track),
            tracker=track if isinstance(track, str) else "botsort",
            resume=resume,
            retry_failed=retry_failed,
            ray=engine == "ray",
            address=address,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            **plan_options,
        ).validate()
        detector = self._pytorch() if plan.attention else self.detector
        with plan.claim(keep={"the model file": detector.ref.path}):
            return run_plan(plan, detector, source)

    @overload
    def evaluate(self, source: Any, labels: str | os.PathLike[str], **settings: Any) -> EvaluationReport: ...

    @overload
    def evaluate(
        self, source: Any, labels: None = None, *, tracks: str | os.PathLike[str], **settings: Any
    ) -> TrackReport: ...

    def evaluate(
        self,
        source: Any,
        labels: str | os.PathLike[str] | None = None,
        *,
        tracks: str | os.PathLike[str] | None = None,
        tracker: str = "botsort",
        vid_stride: int = 1,
        **settings: Any,
    ) -> EvaluationReport | TrackReport:
        """Score the model on labelled images (`labels`: a COCO JSON, or a folder of YOLO .txt labels):
        mAP50, mAP50-95, precision and recall at `conf`, per class. Or, with `tracks` (MOTChallenge
        ground truth of the one video or folder of frames in `source`), score `tracker`: IDF1, MOTA, ID
        switches. The report's `to_dict()` is the document `attn-detect evaluate --format json` writes."""
        from detect_cli.evaluation.labels import Labels
        from detect_cli.tasks.evaluate import EVALUATION, EvaluateJob, check_evaluation, evaluation_metadata

        if tracks is not None:
            check_evaluation(labels, tracks, None, False)
            return self._evaluate_tracks(source, _text(tracks, "tracks") or "", tracker, vid_stride, settings)
        if not isinstance(labels, (str, os.PathLike)):
            raise TypeError(
                f"evaluate(labels): expected a COCO JSON or a folder of YOLO labels, got {type_name(labels)}"
            )
        run = self._settings(settings)
        label_set = Labels.read(Path(labels)).for_model(self.names)
        job = EvaluateJob(run, self.detector, label_set, analysis_options=ANALYSIS)
        sources = python_sources(source, recursive=run.recursive, max_pixels=run.max_pixels)
        doc = document(job, sources, EVALUATION, evaluation_metadata(run, self.detector, str(labels)))
        assert job.report is not None
        return EvaluationReport(doc, job.report, label_set.notes)

    def _evaluate_tracks(
        self, source: Any, truth: str, tracker: str, stride: int, settings: dict[str, Any]
    ) -> TrackReport:
        from detect_cli.outputs.sinks import JsonSink
        from detect_cli.tasks.track_evaluation import evaluate_tracks, read_truth

        if tracker not in TRACKERS:
            raise ConfigError(f"unknown tracker '{tracker}'", f"choose one of {', '.join(TRACKERS)}")
        rows = read_truth(Path(truth))
        run = self._settings(settings)
        sources = python_sources(source, recursive=run.recursive, max_pixels=run.max_pixels)
        scored = evaluate_tracks(run, self.detector, rows, sources, truth_name=truth, tracker=tracker, stride=stride)
        if scored.outcome.interrupted:
            raise KeyboardInterrupt
        text = io.StringIO()
        sink = JsonSink(text, {"command": "evaluate"}, scored.layout)
        sink.write(scored.record)
        sink.close(scored.outcome.summary)
        return TrackReport(json.loads(text.getvalue()))

    def explain(
        self, source: Any, *, method: str = "attention", save: str | os.PathLike[str] | None = None, **settings: Any
    ) -> Explanations:
        """Attention maps per detection (`method`: attention, gradcam, layercam-det, layercam, drise, both
        or all): one `Explanation` per image, a `Result` with the maps (`maps`, `image_maps`), `plot()`
        the map over the picture, and `to_dict()` the record `attn-detect attention --format jsonl`
        writes (each detection with its figures per map); `save` writes the overlays there. Runs the
        PyTorch model (hooks)."""
        from detect_cli.attention.run import check_method
        from detect_cli.tasks.attention import AttentionJob, AttentionSettings

        check_method(method)
        folder = _path(save, "save")
        check_folder(folder)
        run = self._settings(settings)
        detector = self._pytorch()
        job = AttentionJob(
            detector,
            predict_options(run, detector),
            AttentionSettings(method=method, save_dir=folder),
            read_options(run),
        )
        sources = python_sources(source, recursive=run.recursive, max_pixels=run.max_pixels)
        return Explanations(Explanation(record, result) for record, result in job.explained(sources))

    def export(
        self,
        format: str = "onnx",
        out_dir: str | os.PathLike[str] = "exported",
        *,
        half: bool = False,
        int8: bool = False,
        calibration: str | os.PathLike[str] | None = None,
        data: str | os.PathLike[str] | None = None,
        dynamic: bool = False,
        verify: bool = True,
        verify_images: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Export the PyTorch model (`format`: onnx, openvino, torchscript, ncnn) into `out_dir` and check
        it against the original; returns the record `attn-detect export --format json` writes (path,
        size, and `verification` with `passed`). An existing export there is kept (a new name).
        `int8=True` (OpenVINO): quantized on `calibration` images (a folder, glob or file) or a dataset
        YAML's (`data`), the demo models on their own scenes, and kept only if it passes the accuracy
        gate against FP32 (else `path` is None and `int8` says why), as `export --int8`."""
        from detect_cli.models.export import check_export_args
        from detect_cli.tasks.export import ExportJob, calibration_paths_for, calibration_source

        device = "" if self.settings.device == "auto" else self.settings.device
        where = [_text(calibration, "calibration"), _text(data, "data")]
        spec = check_export_args(format, half=half, int8=int8, data=where[1], device=device, dynamic=dynamic)
        paths, named = calibration_paths_for(int8, *where)
        folder = _path(out_dir, "out_dir")
        assert folder is not None
        check_folder(folder, "--dir", "pass a folder for the exported model")
        original = self._pytorch()
        imgsz = self.settings.imgsz or 640
        return ExportJob(
            original,
            spec,
            folder,
            imgsz,
            _check_options(self.settings),
            half=half,
            int8=int8,
            calibration=calibration_source(original, paths, named, imgsz, self.settings) if int8 else None,
            dynamic=dynamic,
            device=device or "cpu",
            trusted=bool(self._opening["trust_model"]),
            verify=verify,
            verify_images=verify_images,
        ).run()

    def options(self, **settings: Any) -> PredictOptions:
        """What each forward pass takes under these settings (conf, iou, imgsz, max_det, classes, NMS)."""
        return predict_options(self._settings(settings), self.detector)

    def _settings(self, overrides: dict[str, Any]) -> DetectSettings:
        """This model's settings with a call's own (checked as flags are)."""
        fixed = sorted(OPENING & set(overrides))
        if fixed:
            raise ConfigError(
                f"{', '.join(fixed)} cannot change per call: it decides how the model is opened",
                "give it to detect_cli.Model(...)",
            )
        clean = validate({k: v for k, v in overrides.items() if v is not None}, FLAGS)
        return replace(self.settings, **clean)

    def _pytorch(self) -> Detector:
        """The PyTorch model (attention hooks, export): this one when it runs on PyTorch, else opened once."""
        if self.detector.backend == "torch":
            return self.detector
        if self._torch is None:
            opened = open_model(
                self.requested,
                weights_dir=self._opening["weights_dir"],
                trust_model=bool(self._opening["trust_model"]),
                needs_torch="attention maps",
            )
            self._torch = opened.detector
        return self._torch


# what `run` takes besides the settings, as DetectPlan names them (the CLI's flags)
PLAN_OPTIONS = frozenset(
    {"attention", "count_line", "heatmap", "vid_stride", "start", "end", "watch", "save_conf", "image_root", "verbose"}
)
ANALYSIS = {"worst": 12, "matrix_conf": None, "matrix_iou": 0.5}  # what --format json analyses (evaluate's defaults)


def _path(value: Any, argument: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected a folder path (str or Path), got {type_name(value)}")
    return Path(value)


def _arguments(source: Any) -> tuple[str, ...]:
    """The paths and URLs among `source` (the plan checks them: a line on a video, a watched folder, --out)."""
    items = [source] if isinstance(source, (str, os.PathLike)) or not isinstance(source, (list, tuple)) else source
    return tuple(os.fspath(item) for item in items if isinstance(item, (str, os.PathLike)))


def _text(value: Any, argument: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected a path (str or Path), got {type_name(value)}")
    return os.fspath(value)


def _check_options(settings: DetectSettings) -> PredictOptions:
    from detect_cli.models.detector import PredictOptions

    return PredictOptions(conf=settings.conf, max_det=settings.max_det)
