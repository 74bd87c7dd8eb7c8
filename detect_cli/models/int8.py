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
import errno
import importlib.util
import io
import logging
import os
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
    """The operations Ultralytics keeps in floating point: every Sigmoid, and the operations of the
    module of the last one (the head's decoding), not its sub-modules but its `dfl`. Read in either
    naming of an IR: OpenVINO's PyTorch frontend (`__module.model.23/aten::sigmoid/Sigmoid`, sub-modules
    dotted: `__module.model.23.dfl/...`) or an ONNX export's (`/model.23/Sigmoid`, sub-modules as path
    segments: `/model.23/dfl/conv/Conv`). ONNX keeps SiLU as x * Sigmoid(x), where the PyTorch frontend
    makes one Swish: those Sigmoids are activations, not the head's, and are left to be quantized."""
    operations = model.get_ordered_ops()
    sigmoids = [op for op in operations if op.get_type_name() == "Sigmoid" and not _silu(op)]
    if not sigmoids:
        return []
    last = sigmoids[-1].get_friendly_name()
    if last.startswith("/"):  # ONNX: the module is the path before the operation's own name
        scope = last.rsplit("/", 1)[0]

        def in_head(name: str) -> bool:
            return name.rsplit("/", 1)[0] == scope or name.startswith(f"{scope}/dfl/")
    else:
        scope = last.split("/", 1)[0]

        def in_head(name: str) -> bool:
            return name.startswith((f"{scope}/", f"{scope}.dfl"))

    kept = {op.get_friendly_name() for op in sigmoids}
    return [
        op.get_friendly_name() for op in operations if op.get_friendly_name() in kept or in_head(op.get_friendly_name())
    ]


def _silu(sigmoid: Any) -> bool:
    """Whether this Sigmoid is half of a SiLU: its output multiplied by its own input."""
    source = sigmoid.input_value(0)
    here = (source.get_node().get_friendly_name(), source.get_index())
    for target in sigmoid.output(0).get_target_inputs():
        product = target.get_node()
        if product.get_type_name() == "Multiply" and any(
            (v.get_node().get_friendly_name(), v.get_index()) == here for v in product.input_values()
        ):
            return True
    return False


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
    with _quiet_nncf():  # importing NNCF may import torch's cpp_extension, which logs about CUDA
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
    target = out_dir / xml.name
    with _disk_full_said(target):
        out_dir.mkdir(parents=True, exist_ok=True)
        ov.save_model(quantized, str(target), compress_to_fp16=False)
        for other in xml.parent.iterdir():
            if other.is_file() and other.suffix not in {".xml", ".bin"}:
                shutil.copyfile(other, out_dir / other.name)
        _say_int8(out_dir / "metadata.yaml")
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
def _disk_full_said(target: Path, spare: int = 1 << 20):
    """OpenVINO reports a full disk as `basic_ios::clear: iostream error`: said as the OSError it is
    (ENOSPC, naming the file), when the failure says iostream or the folder has under `spare` bytes left."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC and not exc.filename:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target)) from None
        raise
    except Exception as exc:
        free = None
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(next(p for p in (target.parent, *target.parents) if p.exists())).free
        if "iostream error" in str(exc) or (free is not None and free < spare):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target)) from None
        raise


def _say_int8(metadata: Path) -> None:
    """Mark the copied metadata as Ultralytics marks an INT8 export (`args.quantize: 8`), so whoever
    opens the folder later (`--model DIR`) is told its precision."""
    import yaml

    if not metadata.is_file():
        return
    data = yaml.safe_load(metadata.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data["args"] = {**(data.get("args") if isinstance(data.get("args"), dict) else {}), "quantize": 8}
        metadata.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


@contextlib.contextmanager
def _quiet_nncf():
    """NNCF logs INFO lines and draws progress bars on stdout: both are silenced for the call; so is
    torch's "No CUDA runtime is found" (its cpp_extension, imported by NNCF on a machine with a CUDA
    folder and no GPU: not the user's concern on a CPU run), unless the run is --verbose."""
    loggers = [logging.getLogger("nncf")]
    if not _verbose():
        loggers.append(logging.getLogger("torch.utils.cpp_extension"))
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _verbose() -> bool:
    """Whether this run is --verbose (the CLI then lets Ultralytics' INFO lines through)."""
    return logging.getLogger("ultralytics").getEffectiveLevel() <= logging.INFO
