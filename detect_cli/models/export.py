"""Export a model with Ultralytics' exporter, then prove the export matches the PyTorch model.

Arguments are checked before any work; a missing runtime is one line naming the extra to
install (Ultralytics is never allowed to pip-install at run time).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.errors import ConfigError, ModelLoadError, one_line
from detect_cli.core.matching import Agreement, match
from detect_cli.models.cache_files import owned_prefix, sweep
from detect_cli.models.detector import Detector, PredictOptions, load_detector
from detect_cli.models.lookup import ModelRef


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str  # file suffix, or folder suffix ending in "_model"
    extra: str | None  # pip extra that brings its runtime
    modules: tuple[str, ...]  # what must be importable to export and run it
    half_on_cpu: bool  # FP16 export possible without a GPU


FORMATS = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", "onnx", ("onnx", "onnxruntime", "onnxslim"), True),
        ExportFormat("torchscript", ".torchscript", None, (), False),
        ExportFormat("openvino", "_openvino_model", "openvino", ("openvino",), True),
        ExportFormat("ncnn", "_ncnn_model", "ncnn", ("ncnn", "pnnx"), True),
    )
}


def check_export_args(
    fmt: str, *, half: bool, int8: bool, data: str | None, device: str, dynamic: bool = False
) -> ExportFormat:
    """Refuse impossible combinations up front, with what to do instead."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}'", f"choose one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    missing = [m for m in spec.modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"exporting to {fmt} needs {', '.join(missing)}, which is not installed",
            f'pip install "attn-detect[{spec.extra}]"',
        )
    if half and int8:
        raise ConfigError("--half and --int8 exclude each other", "pick one precision")
    on_cpu = device in {"", "auto", "cpu"}
    if half and on_cpu and not spec.half_on_cpu:
        raise ConfigError(f"--half for {fmt} needs a GPU export", "pass --device 0, or drop --half")
    if int8 and fmt != "openvino":
        raise ConfigError(
            f"--int8 is made and checked for openvino only, not {fmt}", "pass --to openvino (or drop --int8)"
        )
    if int8 and dynamic:
        raise ConfigError("--int8 makes a static-shape model (it is checked at one size)", "drop --dynamic")
    if int8:
        from detect_cli.models.int8 import nncf_problem

        if problem := nncf_problem():
            raise ConfigError(f"--int8 needs NNCF: {problem}")
    return spec


STAGING = ".attn-detect-export-"  # the prefix of an export's temporary folder


def export_stem(detector: Detector) -> str:
    """The name an export of this model gets (before a suffix, and before `_1`... if that is taken)."""
    return Path(detector.ref.spec).stem if detector.ref.kind == "yaml" else Path(detector.ref.path).stem


def export_model(
    detector: Detector,
    spec: ExportFormat,
    out_dir: Path,
    *,
    imgsz: int,
    half: bool = False,
    dynamic: bool = False,
    device: str = "cpu",
) -> Path:
    """Export into `out_dir`, never replacing what is there: `<stem>.onnx` (or `<stem>_openvino_model/`)
    when that name is free, else `<stem>_1.onnx`, ... Ultralytics writes the export next to the
    checkpoint it is given, so that checkpoint is staged in a temporary folder inside `out_dir` (never
    next to the source checkpoint, which may be inside the package or be the user's own file)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        sweep(out_dir, STAGING)  # what a killed export left here (ours only: cache_files.sweep)
        staging = tempfile.TemporaryDirectory(dir=out_dir, prefix=owned_prefix(STAGING))
    except OSError as exc:
        raise ConfigError(f"--dir {out_dir}: cannot write there: {exc.strerror or exc}") from None
    with staging as tmp:
        staged = Path(tmp) / f"{_free_stem(out_dir, export_stem(detector), spec.suffix)}.pt"
        if detector.ref.kind == "yaml":
            detector.save(staged)
        else:
            shutil.copyfile(detector.ref.path, staged)
        exported = _run_export(detector, spec, staged, imgsz=imgsz, half=half, dynamic=dynamic, device=device)
        return move_in(exported, out_dir, spec.suffix)


def _run_export(
    detector: Detector,
    spec: ExportFormat,
    staged: Path,
    *,
    imgsz: int,
    half: bool,
    dynamic: bool,
    device: str,
) -> Path:
    """Ultralytics' exporter, in FP32 or FP16 (INT8 is made by attn-detect: `int8.py`, and checked)."""
    from ultralytics import RTDETR, YOLO

    from detect_cli.models.openvino_convert import faster_openvino_conversion

    quantize = 16 if half else None
    try:
        model = RTDETR(str(staged)) if detector.ref.family == "rtdetr" else YOLO(str(staged))
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(), faster_openvino_conversion():
            warnings.simplefilter("ignore")  # torch.onnx tracer chatter; Ultralytics' own log says what matters
            exported = model.export(
                format=spec.name,
                imgsz=imgsz,
                dynamic=dynamic,
                device=device or None,
                nms=False if detector.end2end_capable else None,
                quantize=quantize,
            )
    except (AssertionError, ValueError, TypeError) as exc:
        raise ConfigError(f"export to {spec.name} refused: {one_line(exc, first=True)}") from None
    except Exception as exc:
        why = one_line(exc, first=True)
        raise ModelLoadError(f"export to {spec.name} failed: {why}", "run with --verbose") from None
    if not exported or not Path(exported).exists():
        raise ModelLoadError(f"export to {spec.name} failed", "run with --verbose to see Ultralytics' log")
    return Path(exported)


def _free_stem(folder: Path, stem: str, suffix: str) -> str:
    candidate, n = stem, 0
    while os.path.lexists(folder / f"{candidate}{suffix}"):
        n += 1
        candidate = f"{stem}_{n}"
    return candidate


def move_in(exported: Path, folder: Path, suffix: str) -> Path:
    """Move the export out of the staging folder under a name nothing has (re-checked as it moves)."""
    stem = exported.name[: -len(suffix)]
    while True:
        target = folder / f"{_free_stem(folder, stem, suffix)}{suffix}"
        try:
            if exported.is_dir():
                if os.path.lexists(target):  # rename would replace an empty folder that appeared meanwhile
                    continue
                os.rename(exported, target)
            else:
                os.link(exported, target)  # unlike rename, fails if the name was taken meanwhile
            return target
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno == errno.EXDEV and exported.is_dir():  # made on another file system (the cache)
                copy = _copied_beside(exported, folder)
                try:
                    return move_in(copy, folder, suffix)
                finally:
                    shutil.rmtree(copy.parent, ignore_errors=True)  # its staging folder, empty by now
            if exported.is_dir() or os.path.lexists(target):
                raise ConfigError(f"--out {folder}: cannot write {target.name}: {exc.strerror or exc}") from None
            os.rename(exported, target)  # no hard links on this file system
            return target


def _copied_beside(exported: Path, folder: Path) -> Path:
    """A copy of the folder in a staging folder of ours in `folder` (a killed copy: `cache_files.sweep`)."""
    try:
        staging = tempfile.mkdtemp(prefix=owned_prefix(STAGING), dir=folder)
        return Path(shutil.copytree(exported, Path(staging) / exported.name))
    except OSError as exc:
        raise ConfigError(f"--dir {folder}: cannot write {exported.name}: {one_line(exc)}") from None


def load_exported(path: Path, family: str, *, device: str = "cpu", threads: int = 0) -> Detector:
    ref = ModelRef(str(path), str(path), family, "exported")  # type: ignore[arg-type]
    return load_detector(ref, device=device, threads=threads)


@dataclass
class Verification:
    images: int
    agreement: Agreement  # PyTorch's boxes are the reference
    max_conf_diff: float
    ms_original: float
    ms_exported: float
    min_f1: float
    max_diff: float

    @property
    def f1(self) -> float:
        return self.agreement.f1

    @property
    def passed(self) -> bool:
        return self.f1 >= self.min_f1 and self.max_conf_diff <= self.max_diff

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "matched": self.agreement.matched,
            "detections_original": self.agreement.count_a,
            "detections_exported": self.agreement.count_b,
            "f1": round(self.f1, 4),
            "max_conf_diff": round(self.max_conf_diff, 5),
            "ms_per_image_original": round(self.ms_original, 2),
            "ms_per_image_exported": round(self.ms_exported, 2),
            "passed": self.passed,
            "tolerance": {"min_f1": self.min_f1, "max_conf_diff": self.max_diff},
        }


def verify(
    original: Detector,
    exported: Detector,
    images: Sequence[np.ndarray],
    options: PredictOptions,
    *,
    min_f1: float = 0.95,
    max_conf_diff: float = 0.05,
    iou: float = 0.5,
    margin: float = 0.0,
) -> Verification:
    """Run both models on the same images (after one warm-up each) and compare detections.

    With a `margin`, both run at `conf - margin` and each one's boxes at `conf` must be found in the
    other's: a box scored 0.251 by one runtime and 0.249 by the other is then no disagreement.
    Matched is the smaller of the two directions' counts, so the F1 is a lower bound."""
    low = replace(options, conf=max(0.0, options.conf - margin))
    for detector in (original, exported):
        detector.predict([images[0]], low)
    agreement = Agreement()
    worst = 0.0
    spent = {"a": 0.0, "b": 0.0}
    for image in images:
        start = time.perf_counter()
        ((dets_a, _),) = original.predict([image], low)
        spent["a"] += time.perf_counter() - start
        start = time.perf_counter()
        ((dets_b, _),) = exported.predict([image], low)
        spent["b"] += time.perf_counter() - start
        high_a, high_b = dets_a[dets_a.confidence >= options.conf], dets_b[dets_b.confidence >= options.conf]
        pairs, back = match(high_a, dets_b, iou), match(high_b, dets_a, iou)
        agreement.add(min(len(pairs), len(back)), len(high_a), len(high_b))
        if len(pairs):
            worst = max(worst, float(np.abs(high_a.confidence[pairs.a] - dets_b.confidence[pairs.b]).max()))
    n = len(images)
    return Verification(n, agreement, worst, spent["a"] * 1e3 / n, spent["b"] * 1e3 / n, min_f1, max_conf_diff)


def verification_images(detector: Detector, given: Sequence[str] | None = None) -> list[np.ndarray]:
    """Images to check an export on: the given ones, else samples of the kind the model knows
    (`check_images.sample_images`: generated scenes for the demo models, Ultralytics' photos otherwise)."""
    from detect_cli.inputs.images import read_image
    from detect_cli.inputs.sources import iter_sources

    if given:
        return [read_image(s) for s in iter_sources(given)]
    from detect_cli.models.check_images import sample_images

    return sample_images(detector).images


def output_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
