"""Run a verified OpenVINO export with OpenVINO, NumPy and OpenCV alone: no torch, no Ultralytics.

Ultralytics' own wrapper of an OpenVINO model needs torch to letterbox, decode and scale boxes, and
importing it costs ~1.9 s of a one-image run (torch alone 1.8 s) for a network that needs neither.
`OpenVINODetector` is a `Detector`: the engine, slicing, tracking and the sinks use it as they use
the PyTorch one. It runs only exports attn-detect made and verified (`runtime.choose_backend` checks
its boxes against PyTorch's before it is cached); everything it needs (family, names, stride) comes
from the cache entry, the input size from the network itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.letterbox import decode_rtdetr, decode_yolo_end2end, letterbox, to_input
from detect_cli.models.lookup import ModelRef

COMPILED = "compiled"  # OpenVINO's compiled model, beside the export in a cache entry


class AdapterRefused(Exception):
    """This export is not one the adapter runs (dynamic shapes, an unexpected head): use Ultralytics'."""


@dataclass
class OpenVINODetector(Detector):
    """A static-shape OpenVINO export of a YOLO26 (end-to-end head) or RT-DETR model."""

    input_hw: tuple[int, int] = (640, 640)
    rows: int = 300  # the most boxes one pass can give (the head's top-k)
    _request: Any = None

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        decode = decode_rtdetr if self.ref.family == "rtdetr" else decode_yolo_end2end
        out = []
        for image in images:  # the export's batch is 1: Ultralytics splits a batch the same way
            start = time.perf_counter()
            boxed, placement = letterbox(image, self.input_hw, stretch=self.ref.family == "rtdetr")
            tensor = to_input(boxed)
            ready = time.perf_counter()
            self._request.infer({0: tensor})
            rows = np.array(self._request.get_output_tensor(0).data[0], dtype=np.float32)
            ran = time.perf_counter()
            xyxy, conf, cls = decode(rows, placement, options.conf, options.classes, options.max_det)
            done = time.perf_counter()
            timing = Timing(
                preprocess=(ready - start) * 1e3, inference=(ran - ready) * 1e3, postprocess=(done - ran) * 1e3
            )
            capped = Capped.of_passes([len(xyxy)], self.pass_cap(options))
            out.append((Detections(xyxy, conf, cls).with_metadata(**{CAPS: capped}), timing))
        return out

    def pass_cap(self, options: PredictOptions) -> int | None:
        """As the PyTorch model's: an RT-DETR export gives at most its `rows` queries, so a --max-det
        at or above them cannot cut a pass."""
        return None if self.ref.family == "rtdetr" and self.rows <= options.max_det else options.max_det

    def network(self) -> Any:
        return None

    @property
    def predictor(self) -> Any:
        return None

    def save(self, path: Path) -> Path:
        raise TypeError("an OpenVINO export cannot be saved as a PyTorch checkpoint")

    def profile(self, imgsz: int) -> dict[str, float | None]:
        """The export's size; its parameters and GFLOPs are the PyTorch model's (`known_models.model_profile`)."""
        return {"params_m": None, "gflops": None, "file_mb": self.file_mb()}


def _compile_config(threads: int, compiled: Path | None) -> dict[str, Any]:
    import openvino as ov

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": ov.Type.f32}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    elif compiled is not None:  # only the default configuration keeps its compiled copy: no stray blob for another
        config["CACHE_DIR"] = str(compiled)
    return config


def open_openvino(xml: Path, origin: Detector, *, threads: int = 0, compiled: Path | None = None) -> OpenVINODetector:
    """Compile `xml` (beside its `.bin`) for the CPU in fp32 and wrap it as a Detector that answers
    for `origin` (its names, family and head). `compiled`: OpenVINO's model cache, where the first
    compile leaves its result and later ones import it (0.35 s instead of 0.8 s for the demo model on
    a loaded 2-core EPYC); the caller verifies what is in it. Raises AdapterRefused for an export it
    cannot run as Ultralytics would, and OpenVINO's errors for a broken one."""
    import openvino as ov

    start = time.perf_counter()
    core = ov.Core()
    config = _compile_config(threads, compiled)
    model = core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin")))
    if len(model.inputs) != 1 or model.input(0).get_partial_shape().is_dynamic:
        raise AdapterRefused("the export has dynamic shapes")
    shape = [int(d) for d in model.input(0).get_shape()]
    if len(shape) != 4 or shape[:2] != [1, 3]:
        raise AdapterRefused(f"unexpected input shape {shape}")
    output = model.output(0).get_partial_shape()
    if output.is_dynamic or len(output) != 3 or output[2].get_length() != 6:
        raise AdapterRefused(f"unexpected output shape {output} (not an end-to-end head)")
    if origin.ref.family == "yolo" and not origin.end2end_capable:
        raise AdapterRefused("the model has no end-to-end head")
    compiled = core.compile_model(model, "CPU", config)
    ref = ModelRef(origin.ref.spec, str(xml.parent), origin.ref.family, "exported")
    detector = OpenVINODetector(
        ref,
        dict(origin.names),
        "cpu",
        False,
        origin.end2end_capable,
        time.perf_counter() - start,
        native_imgsz=max(shape[2:]),
        stride=origin.stride,
        backend="openvino",
        origin=origin.origin or origin.ref,
        input_hw=(shape[2], shape[3]),
        rows=output[1].get_length(),
        _request=compiled.create_infer_request(),
    )
    detector._model = compiled
    return detector
