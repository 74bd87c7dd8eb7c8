"""The export task: export a model with Ultralytics' exporter (models/export.py), then prove the export
gives the PyTorch model's boxes. Its one record says where the file is and how the check went."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from detect_cli.core.errors import ConfigError, ModelFailed, one_line
from detect_cli.models.cache_files import owned_prefix, sweep
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.export import (
    ExportFormat,
    export_model,
    export_stem,
    load_exported,
    move_in,
    output_size,
    verification_images,
    verify,
)
from detect_cli.outputs.records import Layout

if TYPE_CHECKING:
    from detect_cli.core.settings import DetectSettings
    from detect_cli.models.calibration import CalibrationSet

INT8_SUFFIX = "_int8_openvino_model"
INT8_WORK = ".attn-detect-int8-"  # the prefix of the folder an INT8 export is made in

CSV_COLUMNS = (
    "model",
    "format",
    "path",
    "bytes",
    "images",
    "matched",
    "detections_original",
    "detections_exported",
    "f1",
    "max_conf_diff",
    "ms_per_image_original",
    "ms_per_image_exported",
    "passed",
    "int8_f1",
    "int8_map_change",
    "int8_speedup",
    "int8_passed",
)
INT8_COLUMNS = ("f1", "map_change", "speedup", "passed")


def _row(record: dict[str, Any]) -> dict[str, Any]:
    int8 = (record.get("int8") or {}).get("int8") or {}
    return {**record, **(record.get("verification") or {}), **{f"int8_{k}": int8.get(k) for k in INT8_COLUMNS}}


# export's record: one per export (its verification and INT8 gate flattened into the CSV row)
EXPORT = Layout("exports", CSV_COLUMNS, rows=lambda r: [_row(r)])


def _work_dir(out_dir: Path) -> Path:
    """Where the INT8 export is made: the cache's tmp folder (never the user's --dir, where a killed run
    would leave megabytes), else `out_dir` when the cache cannot be written. Either way what a killed
    run left there is swept first (cache_files.sweep: ours, old, and its process gone)."""
    from detect_cli.models.runtime_cache import cache_dir

    sweep(out_dir, INT8_WORK)  # left by an older attn-detect, which worked in --dir
    work = cache_dir() / "tmp"
    try:
        work.mkdir(parents=True, exist_ok=True)
        sweep(work, INT8_WORK)
        return work if os.access(work, os.W_OK) else out_dir
    except OSError:
        return out_dir


def _same(images: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
    return images


def _silent(_: str) -> None:
    pass


@dataclass
class ExportJob:
    """Export a model and check the export against it; usable from Python. `run()` returns the record
    (path, size, and the check); `record["verification"]["passed"]` says whether it matches."""

    layout: ClassVar[Layout] = EXPORT

    detector: Detector
    spec: ExportFormat
    out_dir: Path
    imgsz: int
    options: PredictOptions = field(default_factory=PredictOptions)  # conf and max_det of the check
    half: bool = False
    int8: bool = False
    dynamic: bool = False
    device: str = "cpu"
    trusted: bool = False  # the exporter loads the checkpoint again, under the same rule as the first load
    verify: bool = True
    verify_images: Sequence[str] | None = None  # default: samples of the kind the model knows
    calibration: Callable[[], CalibrationSet] | None = None  # --int8: calibration and held-out images
    status: Callable[[str], None] = _silent  # hears each step
    track: Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]] = _same  # wraps the check images (a progress bar)
    record: dict[str, Any] | None = field(default=None, init=False)

    def records(self, sources: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        """The one record of the export (an export has no inputs: `sources` is ignored)."""
        self.record = self.run()
        yield self.record

    def summary(self, interrupted: bool = False) -> None:
        return None

    def incomplete(self) -> bool:
        return False

    def run(self) -> dict[str, Any]:
        """Export, then check: the record (path, size, and the check)."""
        if self.int8:
            return self._run_int8()
        from detect_cli.models.ultralytics_env import model_loading

        status, track = self.status, self.track

        status(f"exporting to {self.spec.name}…")
        with model_loading(self.trusted):
            path = export_model(
                self.detector,
                self.spec,
                self.out_dir,
                imgsz=self.imgsz,
                half=self.half,
                dynamic=self.dynamic,
                device=self.device,
            )
        record: dict[str, Any] = {
            "model": self.detector.ref.spec,
            "format": self.spec.name,
            "path": str(path),
            "bytes": output_size(path),
            "imgsz": self.imgsz,
            "verification": None,
            "renamed": path.name != export_stem(self.detector) + self.spec.suffix,
        }
        if not self.verify:
            return record
        status(f"loading {path.name}…")
        exported = load_exported(path, self.detector.ref.family, device=self.device)
        images = verification_images(self.detector, self.verify_images)
        options = replace(self.options, imgsz=self.imgsz)
        record["verification"] = {
            **verify(self.detector, exported, track(images), options).as_dict(),
            "enforced": self.detector.ref.kind != "yaml",
        }
        return record

    def _run_int8(self) -> dict[str, Any]:
        """An INT8 OpenVINO model that passed the accuracy gate (models/int8_gate.py) against the FP32
        export it is made from, itself checked against PyTorch. A refused model is not written: the
        record has no path, and its `int8` figures say why."""
        from detect_cli.models import runtimes
        from detect_cli.models.calibration import demo_scenes
        from detect_cli.models.int8_trial import make_int8
        from detect_cli.models.ultralytics_env import model_loading

        options = replace(self.options, imgsz=self.imgsz)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # read before any export: too few images stop it before minutes of work
        calibration = self.calibration() if self.calibration is not None else demo_scenes()
        with tempfile.TemporaryDirectory(dir=_work_dir(self.out_dir), prefix=owned_prefix(INT8_WORK)) as tmp:
            self.status("exporting to openvino (fp32: what the INT8 model is made from)…")
            with model_loading(self.trusted):
                base = export_model(self.detector, self.spec, Path(tmp), imgsz=self.imgsz, device=self.device)
            source_xml = next(base.glob("*.xml"))
            fp32 = runtimes.get("openvino").open_export(source_xml, self.detector)
            images = verification_images(self.detector, self.verify_images)
            verification = {**verify(self.detector, fp32, self.track(images), options).as_dict(), "enforced": True}
            self.status(f"quantizing to INT8 on {calibration.source}, then checking it on the held-out images…")
            folder = Path(tmp) / (base.name.removesuffix(self.spec.suffix) + INT8_SUFFIX)
            try:
                made = make_int8(self.detector, fp32, source_xml, folder, calibration, options)
            except OSError as exc:  # a full disk (int8.quantize names the file), a folder that went away
                raise ModelFailed(
                    f"cannot write the INT8 model: {one_line(exc)}", "free some space and run it again"
                ) from None
            path = move_in(folder, self.out_dir, INT8_SUFFIX) if made.check.passed and verification["passed"] else None
        stem = export_stem(self.detector)
        return {
            "model": self.detector.ref.spec,
            "format": "openvino-int8",
            "path": str(path) if path else None,
            "bytes": output_size(path) if path else 0,
            "imgsz": self.imgsz,
            "verification": verification,
            "int8": made.figures(calibration),
            "renamed": path is not None and path.name != stem + INT8_SUFFIX,
        }


def verdict(record: dict[str, Any]) -> tuple[list[str], bool]:
    """What to say about a finished export's record, and whether it failed (exit 1): an INT8 model that
    did not pass its accuracy gate (nothing written), or an export that does not match PyTorch."""
    check = record["verification"]
    if record.get("int8") and record["path"] is None:
        gate = record["int8"]["int8"]
        why = "; ".join(gate["failures"]) or "the FP32 export it is made from does not match PyTorch"
        said = f"the INT8 model did not pass its accuracy gate ({why}): nothing written; export without --int8 for FP32"
        return [said], True
    if check and not check["enforced"]:
        return [
            "random weights give near-equal scores that tie differently across runtimes: the check is shown, "
            "not enforced"
        ], False
    if check and not check["passed"]:
        return ["the exported model does not match the PyTorch model within tolerance (see the table)"], True
    return [], False


def calibration_paths_for(int8: bool, calibration: str | None, data: str | None) -> tuple[list[str] | None, str]:
    """What --int8 calibrates on and the option that named it, checked before the model loads (enough
    images to count there); None: the model's own kind (demo scenes)."""
    from detect_cli.models.calibration import check_enough, dataset_images

    if not int8:
        if calibration or data:
            given = f"--calibration {calibration}" if calibration else f"--data {data}"
            raise ConfigError(f"{given} is for --int8, and this export is not one", "add --int8, or drop it")
        return None, ""
    if calibration and data:
        raise ConfigError("--calibration and --data both name calibration images", "give one of them")
    if calibration:
        if not Path(calibration).exists() and not any(c in calibration for c in "*?["):
            raise ConfigError(f"--calibration {calibration}: no such file or folder")
        check_enough([calibration], f"--calibration {calibration}")
        return [calibration], f"--calibration {calibration}"
    if data:
        paths = dataset_images(data)
        check_enough(paths, f"--data {data}")
        return paths, f"--data {data}"
    return None, ""


def calibration_source(
    original: Detector,
    paths: list[str] | None,
    where: str,
    imgsz: int,
    settings: DetectSettings,
    warn: Callable[[str], None] = lambda _message: None,
) -> Callable[[], CalibrationSet]:
    """What `ExportJob(calibration=...)` calls for the images an INT8 export calibrates on and is
    checked with: `paths` (from `calibration_paths_for`), or the demo models' own scenes."""
    from detect_cli.models.calibration import calibration_set, demo_scenes, is_shapes_model
    from detect_cli.models.open import read_options

    if paths is None:
        if not is_shapes_model(original):
            raise ConfigError(
                "--int8 needs images of the kind the model will see, to calibrate on and check",
                "pass --calibration DIR (or --data DATA.yaml)",
            )
        return demo_scenes

    def read() -> CalibrationSet:
        made = calibration_set(
            original, paths, read_options=read_options(settings), explicit=True, max_side=imgsz, where=where
        )
        for message in made.passed_over:
            warn(message)
        return made

    return read
