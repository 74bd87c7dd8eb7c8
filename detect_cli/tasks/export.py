"""The export task: export a model with Ultralytics' exporter (models/export.py), then prove the export
gives the PyTorch model's boxes. Its one record says where the file is and how the check went."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.export import (
    ExportFormat,
    export_model,
    export_stem,
    load_exported,
    output_size,
    verification_images,
    verify,
)
from detect_cli.outputs.records import Layout

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
)
# export's record: one per export (its verification flattened into the CSV row)
EXPORT = Layout("exports", CSV_COLUMNS, rows=lambda r: [{**r, **(r.get("verification") or {})}])


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
    data: str | None = None
    device: str = "cpu"
    trusted: bool = False  # the exporter loads the checkpoint again, under the same rule as the first load
    verify: bool = True
    verify_images: Sequence[str] | None = None  # default: samples of the kind the model knows
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
                int8=self.int8,
                dynamic=self.dynamic,
                data=self.data,
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
