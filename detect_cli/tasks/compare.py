"""Several models on the same images: each image is read and decoded once and fed to every model,
in an order that rotates per image so machine noise hits all models alike.

`ComparisonRun` folds the stream into per-model statistics (counts, timings, agreement between
every pair, and mAP when labels are given); it keeps no pixels and no per-image detections
except the small `Prediction`s that mAP needs.

Long because the comparison's running figures (speed, agreement, mAP per model) live beside the task.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError, ModelFailed
from detect_cli.core.matching import Agreement, match
from detect_cli.core.results import ImageResult
from detect_cli.core.settings import DetectSettings
from detect_cli.evaluation.metrics import EvalReport, Labels, evaluate
from detect_cli.evaluation.predictions import Prediction
from detect_cli.evaluation.worst import WORST
from detect_cli.inputs.images import ReadOptions
from detect_cli.inputs.sources import Source, stills_only
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.outputs.image_saver import ImageSaver, SaveRefused
from detect_cli.outputs.records import Layout, image_record
from detect_cli.pipeline.engine import BYTES_IN_FLIGHT, ByteBudget, load, prefetched
from detect_cli.pipeline.failures import FailureWatch, blank_image
from detect_cli.pipeline.run_summary import RunSummary

if TYPE_CHECKING:
    from detect_cli.evaluation.analysis import ModelsAnalysis


@dataclass
class Contender:
    """One model in a comparison, with the name it is shown under and its predict options."""

    name: str
    detector: Detector
    options: PredictOptions


@dataclass(frozen=True)
class ImageComparison:
    """One image and what each model made of it (results in contender order)."""

    index: int
    source: Source
    results: tuple[ImageResult, ...]
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.results[0].ok if self.results else False


def check_models(models: Sequence[object]) -> None:
    """A comparison needs two models at least (ConfigError, with the CLI's message)."""
    if len(models) < 2:
        raise ConfigError("compare needs at least two models", "pass --models a,b or repeat -m")


def sliced_positions(specs: list[str], slice_for: list[str] | None, slicing: bool) -> set[int]:
    """Which models (0-based) run sliced: those --slice-for names (place from 1, or name), else all with --slice."""
    if not slicing:
        return set()
    if not slice_for:
        return set(range(len(specs)))
    chosen = set()
    for item in (s.strip() for entry in slice_for for s in entry.split(",") if s.strip()):
        if item.isdigit() and 1 <= int(item) <= len(specs):
            chosen.add(int(item) - 1)
        elif item in specs:
            chosen.update(n for n, spec in enumerate(specs) if spec == item)
        else:
            raise ConfigError(
                f"--slice-for {item}: not one of the models ({', '.join(specs)})",
                f"give a model's place (1 to {len(specs)}) or its name",
            )
    return chosen


MAP_CONF = 0.001  # with labels, every model keeps its low-confidence boxes: mAP needs the whole curve


def contender(name: str, detector: Detector, settings: DetectSettings, *, sliced: bool, scored: bool) -> Contender:
    """One model as a comparison runs it: sliced into tiles when asked, and with labels (`scored`)
    keeping its low-confidence boxes too (counts and agreement still use --conf)."""
    from detect_cli.models.open import predict_options
    from detect_cli.pipeline.slicing import SlicedDetector, slice_options

    options = predict_options(settings, detector)
    shown = SlicedDetector(detector, slice_options(settings), settings.batch) if sliced else detector
    return Contender(name, shown, replace(options, conf=MAP_CONF) if scored else options)


def recorded_settings(
    settings: DetectSettings, imgsz: int | None, labels: str | None, *, sliced: bool
) -> dict[str, Any]:
    """What a comparison's report records about how it ran (else what torch or the runtimes used)."""
    from detect_cli.pipeline.slicing import slice_options

    return {
        "imgsz": imgsz,
        "conf": settings.conf,
        "device": settings.device,
        "threads": settings.threads or None,
        "labels": labels,
        "slice": slice_options(settings).describe() if sliced else None,
    }


def shown_names(labels: Sequence[str]) -> list[str]:
    """Each model's name in the report: its label, and `#2`, `#3` for the same label again (the same
    model twice is fine: e.g. with and without slicing)."""
    return [
        label if label not in labels[:n] else f"{label}#{labels[:n].count(label) + 1}" for n, label in enumerate(labels)
    ]


def compare_stream(
    sources: Iterable[Source], contenders: Sequence[Contender], read_options: ReadOptions = ReadOptions()
) -> Iterator[ImageComparison]:
    stills = stills_only(sources, "a video: compare runs on images (run detect on the video with each model)")
    jobs = ((i, s, read_options) for i, s in enumerate(stills))
    budget = ByteBudget(BYTES_IN_FLIGHT)  # as in detect: huge images read ahead are bounded in bytes too
    # as in detect: a model that fails on a blank image too, or on input after input, stops the run with its cause
    watches = [FailureWatch(_probe(c)) for c in contenders]
    for item in prefetched(jobs, lambda job: load(*job), depth=2, budget=budget, weigh=lambda p: p.nbytes):
        if item.image is None:
            failed = ImageResult(item.source.ref, item.index, error=item.error, name=item.source.name)
            yield ImageComparison(item.index, item.source, tuple(failed for _ in contenders))
            continue
        m = len(contenders)
        order = [(item.index + k) % m for k in range(m)]  # rotate who goes first
        results: list[ImageResult | None] = [None] * m
        for k in order:
            results[k] = _run_one(contenders[k], item, watches[k])
        yield ImageComparison(item.index, item.source, tuple(results), item.image)  # type: ignore[arg-type]
        budget.release(item.nbytes)


def _probe(contender: Contender) -> Callable[[], object]:
    return lambda: contender.detector.predict([blank_image(contender.options.imgsz)], contender.options)


def _run_one(contender: Contender, item: Any, watch: FailureWatch) -> ImageResult:
    height, width = item.image.shape[:2]
    base = ImageResult(
        item.source.ref, item.index, names=contender.detector.names, width=width, height=height, name=item.source.name
    )
    try:
        ((detections, timing),) = contender.detector.predict([item.image], contender.options)
    except Exception as exc:
        try:
            why = watch.failed(exc, item.source.ref)
        except ModelFailed as failed:
            raise ModelFailed(f"model {contender.name}: {failed.message}", failed.hint) from exc
        return replace(base, error=f"{contender.name} failed on this image: {why}")
    watch.ok()
    return replace(base, detections=detections, timing=replace(timing, read=item.read_ms))


def warm_up(contenders: Sequence[Contender], image: np.ndarray, runs: int = 1) -> dict[str, float]:
    """Run each model `runs` times on one image before timing; returns ms per warm-up run."""
    spent = {}
    for c in contenders:
        start = time.perf_counter()
        for _ in range(runs):
            c.detector.predict([image], c.options)
        spent[c.name] = (time.perf_counter() - start) * 1e3 / max(runs, 1)
    return spent


@dataclass
class PairAgreement:
    """How far model `b` agrees with model `a`, taking `a` as the reference."""

    a: str
    b: str
    agreement: Agreement = field(default_factory=Agreement)

    def add(self, det_a: Detections, det_b: Detections, iou: float) -> None:
        pairs = match(det_a, det_b, iou)
        self.agreement.add(len(pairs), len(det_a), len(det_b), float(pairs.iou.sum()))

    def as_dict(self) -> dict[str, Any]:
        g = self.agreement
        return {
            "reference": self.a,
            "model": self.b,
            "matched": g.matched,
            "precision": round(g.precision, 4),
            "recall": round(g.recall, 4),
            "f1": round(g.f1, 4),
            "mean_iou": round(g.mean_iou, 4) if g.mean_iou is not None else None,
        }


class ComparisonRun:
    """Folds `ImageComparison`s into the comparison report."""

    def __init__(
        self,
        contenders: Sequence[Contender],
        labels: Sequence[Labels] | None = None,
        conf: float = 0.0,
        iou: float = 0.5,
    ) -> None:
        """`labels`: one `Labels` per contender (class ids follow each model's names). Counts and
        agreement use detections at or above `conf`; mAP uses all (run models low for it)."""
        self.contenders = list(contenders)
        self.stats = [RunSummary(latencies_ms=array("f")) for _ in contenders]
        self.pairs = [PairAgreement(a.name, b.name) for a, b in combinations(contenders, 2)]
        self._pair_index = list(combinations(range(len(contenders)), 2))
        self.labels = list(labels) if labels is not None else None
        self.conf = conf
        self.iou = iou
        self.predictions: list[list[Prediction]] = [[] for _ in contenders]
        self.vocabulary: dict[str, int] = {}
        self.failures: list[tuple[str, str]] = []

    def _shared_ids(self, result: ImageResult) -> Detections:
        """Class ids in one vocabulary of names, so models with different id orders can agree."""
        ids = [
            self.vocabulary.setdefault(result.class_name(int(c)), len(self.vocabulary))
            for c in result.detections.class_id
        ]
        return Detections(result.detections.xyxy, result.detections.confidence, np.array(ids, dtype=np.int64))

    def add(self, item: ImageComparison) -> None:
        if self.labels is not None and item.ok:
            for preds, result in zip(self.predictions, item.results):
                if result.ok:
                    preds.append(Prediction.from_result(result))
        results = [self.above_conf(r) for r in item.results]
        for stats, result in zip(self.stats, results):
            stats.add(result)
        errors = {r.error for r in results if not r.ok}
        for message in errors:
            self.failures.append((item.source.ref, message or "error"))
        if errors:
            return
        shared = [self._shared_ids(r) for r in results]
        for (i, j), pair in zip(self._pair_index, self.pairs):
            pair.add(shared[i], shared[j], self.iou)

    def above_conf(self, result: ImageResult) -> ImageResult:
        if not result.ok or not self.conf:
            return result
        return replace(result, detections=result.detections[result.detections.confidence >= self.conf])

    def scores(self) -> list[EvalReport] | None:
        if self.labels is None:
            return None
        return [evaluate(preds, labels, conf=self.conf) for preds, labels in zip(self.predictions, self.labels)]


def comparison_report(
    run: ComparisonRun,
    warmup_ms: dict[str, float],
    failed_models: Sequence[tuple[str, str]] = (),
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole comparison as plain data: what the table shows and the JSON/CSV outputs carry."""
    from detect_cli.models import runtimes
    from detect_cli.models.known_models import model_profile

    scores = run.scores()
    models = []
    for k, (contender, stats) in enumerate(zip(run.contenders, run.stats)):
        detector = contender.detector
        head = (
            "none (RT-DETR)"
            if detector.ref.family == "rtdetr"
            else ("NMS" if detector.runs_nms(contender.options) else "NMS-free")
        )
        row: dict[str, Any] = {
            "name": contender.name,
            "spec": detector.ref.spec,
            "family": detector.ref.family,
            "head": head,
            "runtime": detector.runtime,
            "runtime_display": runtimes.display(detector.backend, detector.precision),
            "runtime_reason": detector.backend_reason,
            "letterbox": detector.letterbox_ran(contender.options.letterbox),
            **model_profile(detector, contender.options.imgsz),
            "load_s": detector.load_s,
            "warmup_ms": warmup_ms.get(contender.name),
            "images": stats.images,
            "failed": stats.failed,
            "detections": stats.detections,
            **_stage_means(stats),
            **stats.latency(),
            "class_counts": dict(sorted(stats.class_counts.items())),
        }
        if scores is not None:
            overall = scores[k].overall
            row.update(
                map50=overall.map50,
                map50_95=overall.map50_95,
                precision=overall.precision,
                recall=overall.recall,
                labelled_images=scores[k].images,
            )
        models.append(row)
    if any(stats.caps.bit for stats in run.stats):  # a cap was reached: say how often, for every model
        for row, stats in zip(models, run.stats):
            row.update(passes_at_max_det=stats.caps.passes_full, cut_by_max_det_image=stats.caps.dropped)
    return {
        "schema_version": 1,
        "settings": settings or {},
        "models": models,
        "agreement": [p.as_dict() for p in run.pairs],
        "failed_models": [{"name": n, "error": e} for n, e in failed_models],
        "failures": [{"source": s, "error": e} for s, e in run.failures],
    }


def _stage_means(stats: RunSummary) -> dict[str, float]:
    if not stats.images:
        return {}
    return {f"{stage}_mean": ms for stage, ms in stats.ms_per_image().items() if stage != "read"}


CSV_COLUMNS = (
    "name",
    "spec",
    "family",
    "head",
    "runtime",
    "params_m",
    "gflops",
    "file_mb",
    "load_s",
    "warmup_ms",
    "images",
    "failed",
    "detections",
    "preprocess_mean",
    "inference_mean",
    "postprocess_mean",
    "total_p50",
    "total_p95",
    "images_per_s",
    "map50",
    "map50_95",
    "precision",
    "recall",
)
# compare's records: one per input (every model's image record) in JSON/JSONL; its CSV is the
# table of models, taken from the summary
COMPARE = Layout("images", CSV_COLUMNS, summary_rows=lambda summary: summary["models"])


@dataclass
class CompareJob:
    """A whole comparison, usable from Python: `records(sources)` yields one record per input as it is
    done (and writes the side-by-side images with `save_dir`); `summary()` is the report."""

    layout: ClassVar[Layout] = COMPARE

    contenders: Sequence[Contender]
    labels: Sequence[Labels] | None = None
    conf: float = 0.0  # counts and agreement use boxes at or above it; mAP uses all
    read_options: ReadOptions = field(default_factory=ReadOptions)
    warmup: int = 1  # runs per model on the first image, before timing
    save_dir: Path | None = None
    failed_models: Sequence[tuple[str, str]] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # recorded in the report
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (input, what was not written)
    # with labels, `analysis.analyse`'s options (worst, matrix_conf, matrix_iou): the summary then has each
    # model's evaluation and the errors that separate them, and `write_page` their pictures
    analysis_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.contenders, (str, Contender)) or not all(isinstance(c, Contender) for c in self.contenders):
            raise TypeError("CompareJob(contenders): expected a list of Contender(name, detector, options)")
        if not self.contenders:
            raise ConfigError("CompareJob needs at least one contender", "detect_cli.compare([model_a, model_b], ...)")
        if self.labels is not None and len(self.labels) != len(self.contenders):
            raise ConfigError(f"CompareJob: {len(self.labels)} label sets for {len(self.contenders)} contenders")
        self._start()

    def _start(self) -> None:
        """A run's running figures, from zero: each `records` call is a run of its own."""
        self.run = ComparisonRun(self.contenders, self.labels, conf=self.conf)
        self._analysis: ModelsAnalysis | None = None
        self.warmups: dict[str, float] = {}
        self.grids: list[tuple[str, Path]] = []  # (input, its side-by-side image)

    def records(self, sources: Iterable[Source]) -> Iterator[dict[str, Any]]:
        self._start()
        saver = ImageSaver(self.save_dir) if self.save_dir is not None else None
        for item in compare_stream(sources, self.contenders, self.read_options):
            if not self.warmups and item.image is not None and self.warmup:
                self.warmups = warm_up(self.contenders, item.image, self.warmup)
            self.run.add(item)
            if saver is not None and item.image is not None:
                try:
                    self.grids.append((item.source.ref, saver.save(item.source.name, self._grid(item))))
                except (OSError, SaveRefused) as exc:
                    self.warnings.append((item.source.ref, f"side-by-side image not saved: {exc}"))
            yield {
                "index": item.index,
                "source": item.source.ref,
                "models": {c.name: image_record(r) for c, r in zip(self.contenders, item.results)},
            }

    def summary(self, interrupted: bool = False) -> dict[str, Any]:
        """The report: per model speed, counts, agreement (and mAP with labels), over the images done."""
        from detect_cli.models.ultralytics_env import torch_threads

        first = self.run.stats[0]
        threads = self.settings.get("threads") or torch_threads()
        settings = {"images": first.images + first.failed, **self.settings, "threads": threads}
        report = {**comparison_report(self.run, self.warmups, self.failed_models, settings), "interrupted": interrupted}
        analysis = self.analysis()
        if analysis is not None:
            report["evaluation"] = analysis.as_dict((self.analysis_options or {}).get("worst", WORST))
        return report

    def analysis(self) -> ModelsAnalysis | None:
        """With labels and `analysis_options`: each model's curves, confusion matrix, TIDE errors and
        worst images, and the errors that separate each pair of models (made once)."""
        if self.labels is None or self.analysis_options is None:
            return None
        if self._analysis is None:
            from detect_cli.evaluation.analysis import analyse_models
            from detect_cli.evaluation.errors import pair_up

            images = [pair_up(preds, labels) for preds, labels in zip(self.run.predictions, self.labels)]
            self._analysis = analyse_models(
                [c.name for c in self.contenders],
                images,
                [c.detector.names for c in self.contenders],
                conf=self.conf,
                **self.analysis_options,
            )
        return self._analysis

    def incomplete(self) -> bool:
        return bool(self.failed_models or self.run.failures or self.warnings)

    def write_page(self, summary: dict[str, Any]) -> Path:
        """`save_dir/index.html`: the report's tables, the evaluation's pictures (with `analysis`; those
        not written are added to `warnings`) and every side-by-side image."""
        from detect_cli.outputs.report import comparison_page

        assert self.save_dir is not None
        sections = []
        analysis = self.analysis()
        if analysis is not None:
            from detect_cli.tasks.evaluation_pictures import comparison_sections

            names = [c.detector.names for c in self.contenders]
            sections, warnings = comparison_sections(
                self.save_dir,
                analysis,
                names,
                worst=(self.analysis_options or {}).get("worst", WORST),
                read_options=self.read_options,
            )
            self.warnings += warnings
        return comparison_page(self.save_dir, summary, self.grids, sections)

    def _grid(self, item: ImageComparison) -> np.ndarray:
        from detect_cli.outputs.annotate import BoxAnnotator, captioned, side_by_side

        annotator = BoxAnnotator()
        panels = []
        for c, result in zip(self.contenders, item.results):
            shown = self.run.above_conf(result)
            ms = sum((shown.timing.preprocess, shown.timing.inference, shown.timing.postprocess))
            caption = f"{c.name}  {len(shown.detections)} det  {ms:.0f} ms" if shown.ok else f"{c.name}  failed"
            panels.append(captioned(annotator.annotate(item.image, shown.detections, shown.names), caption))
        return side_by_side(panels)
