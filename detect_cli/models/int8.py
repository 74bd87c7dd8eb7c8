"""Quantize a verified FP32 OpenVINO export to INT8 with NNCF's post-training quantization.

The recipe is the one Ultralytics' exporter applies under OpenVINO (`utils/export/openvino.py`):
the transformer model type for RT-DETR, and the detection head's box decoding kept in floating
point (every Sigmoid, and the operations under the scope of the last Sigmoid: YOLO26's one-to-one
head and its top-k, RT-DETR's decoder outputs), where others found INT8 breaks. Two presets:
PERFORMANCE (symmetric activations: the fastest kernels) and MIXED (asymmetric activations, as
Ultralytics quantizes: more accurate, slower). `int8_trial` tries them in PRESETS order and keeps
the first that passes the gate (the demo model on a 2-core Xeon: 1.51x and 1.31x FP32). The
calibration images go through the same letterbox the runner uses (`letterbox.py`), so NNCF sees
exactly the tensors a run feeds.

NNCF is an optional dependency (`pip install "attn-detect[int8]"`); it is imported only here,
only when a model is quantized: a run of a cached INT8 model never imports it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.models.letterbox import letterbox, to_input

NNCF_MISSING = 'NNCF is not installed (pip install "attn-detect[int8]")'
PRESETS = ("performance", "mixed")


def nncf_problem() -> str | None:
    """Why this install cannot quantize, or None."""
    return NNCF_MISSING if importlib.util.find_spec("nncf") is None else None


def head_scope(model: Any) -> list[str]:
    """The operations Ultralytics keeps in floating point: every Sigmoid, and everything under the
    scope of the last one (the head's decoding)."""
    operations = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in operations if op.get_type_name() == "Sigmoid"]
    if not sigmoids:
        return []
    scope = sigmoids[-1].split("/", 1)[0]
    return [
        op.get_friendly_name()
        for op in operations
        if op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith((f"{scope}/", f"{scope}.dfl"))
    ]


def quantize(
    xml: Path,
    out_dir: Path,
    images: list[np.ndarray],
    *,
    family: str,
    preset: str = "mixed",
    keep_head: bool = True,
) -> Path:
    """Quantize the FP32 model `xml` (beside its .bin) on `images` (BGR, any size), into
    `out_dir/<same name>.xml`; the export's other files (Ultralytics' metadata.yaml) are copied
    beside it, so either runner can open the folder. Returns the new .xml. NNCF's log and progress
    bars are kept off stdout (stdout carries results only). `keep_head=False` quantizes the head too
    (for the benchmark that shows why it is kept)."""
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin")))
    input_hw = _square(model, xml)  # calibrated at the square; a dynamic export stays dynamic (reshaped per run)
    stretch = family == "rtdetr"

    def transform(image: np.ndarray) -> np.ndarray:
        return to_input(letterbox(image, input_hw, stretch=stretch)[0])

    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}
    options: dict[str, Any] = {"preset": presets[preset], "subset_size": len(images)}
    if family == "rtdetr":
        options["model_type"] = nncf.ModelType.TRANSFORMER
    if keep_head and (names := head_scope(model)):
        options["ignored_scope"] = nncf.IgnoredScope(names=names)
    with _quiet_nncf():
        quantized = nncf.quantize(model, nncf.Dataset(images, transform), **options)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / xml.name
    ov.save_model(quantized, str(target), compress_to_fp16=False)
    for other in xml.parent.iterdir():
        if other.is_file() and other.suffix not in {".xml", ".bin"}:
            shutil.copyfile(other, out_dir / other.name)
    return target


def _square(model: Any, xml: Path) -> tuple[int, int]:
    """The input size calibration images are letterboxed to: a static export's own, or the square a
    dynamic one was exported at (its metadata)."""
    if not model.input(0).get_partial_shape().is_dynamic:
        shape = [int(d) for d in model.input(0).get_shape()]
        return shape[2], shape[3]
    from detect_cli.models.lookup import export_imgsz

    size = export_imgsz(xml.parent)
    if size is None:
        raise ValueError(f"{xml.name} has dynamic shapes and no size of its own")
    return size, size


@contextlib.contextmanager
def _quiet_nncf():
    """NNCF logs INFO lines and draws progress bars on stdout: both are silenced for the call."""
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
