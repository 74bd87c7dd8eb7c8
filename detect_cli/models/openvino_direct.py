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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.letterbox import Placement, decode_rtdetr, decode_yolo_end2end, letterbox, to_input
from detect_cli.models.lookup import ModelRef
from detect_cli.models.openvino_lean import lean_openvino
from detect_cli.models.openvino_requests import RequestPool, Ticket

COMPILED = "compiled"  # OpenVINO's compiled model, beside the export in a cache entry
# Requests on the latency-compiled model: one runs while Python letterboxes the next image and decodes the
# last one's boxes (a caller that waits for each result only ever uses one)
LATENCY_REQUESTS = 2


class AdapterRefused(Exception):
    """This export is not one the adapter runs (dynamic shapes, an unexpected head): use Ultralytics'."""


@dataclass(kw_only=True)
class OpenVINODetector(Detector):
    """A static-shape OpenVINO export of a YOLO26 (end-to-end head) or RT-DETR model."""

    input_hw: tuple[int, int] = (640, 640)
    rows: int = 300  # the most boxes one pass can give (the head's top-k)
    _pool: Any = None  # openvino_requests.RequestPool: the requests in flight

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        return self.predict_later(images, options)()

    def predict_later(
        self, images: list[np.ndarray], options: PredictOptions
    ) -> Callable[[], list[tuple[Detections, Timing]]]:
        """Start inference on `images` now (as many requests in flight as the pool holds, later
        calls' too) and return what waits for their results, in order. The export's batch is 1:
        Ultralytics splits a batch the same way."""
        started = [self._start(image) for image in images]
        return lambda: [self._finish(*one, options) for one in started]

    def _start(self, image: np.ndarray) -> tuple[Ticket, Placement, float]:
        start = time.perf_counter()
        boxed, placement = letterbox(image, self.input_hw, stretch=self.ref.family == "rtdetr")
        tensor = to_input(boxed)
        ready = time.perf_counter()
        return self._pool.submit(tensor), placement, (ready - start) * 1e3

    def _finish(
        self, ticket: Ticket, placement: Placement, preprocess_ms: float, options: PredictOptions
    ) -> tuple[Detections, Timing]:
        rows = ticket.output()
        ran = time.perf_counter()
        decode = decode_rtdetr if self.ref.family == "rtdetr" else decode_yolo_end2end
        xyxy, conf, cls = decode(rows, placement, options.floor, options.classes, options.max_det)
        timing = Timing(
            preprocess=preprocess_ms,
            inference=ticket.latency_ms,
            postprocess=(time.perf_counter() - ran) * 1e3,
        )
        capped = Capped.of_passes([len(xyxy)], self.pass_cap(options))
        return options.keep(Detections(xyxy, conf, cls).with_metadata(**{CAPS: capped})), timing

    @property
    def in_flight(self) -> int:
        """Batches the engine keeps started at once (`engine._InFlight`): one per request."""
        return int(self._pool.size)

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


def _compile_config(threads: int, compiled: Path | None, hint: str = "LATENCY") -> dict[str, Any]:
    """OpenVINO's CPU configuration. The hint is not part of its model cache's key: the throughput
    compile imports the blob the latency compile left (no second file in `compiled`)."""
    ov = lean_openvino()

    config: dict[str, Any] = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": ov.Type.f32}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    elif compiled is not None:  # only the default configuration keeps its compiled copy: no stray blob for another
        config["CACHE_DIR"] = str(compiled)
    return config


def _for_throughput(core: Any, model: Any, threads: int, compiled: Path | None) -> tuple[Any, int]:
    """The same network compiled for throughput, and how many requests it wants in flight."""
    widened = core.compile_model(model, "CPU", _compile_config(threads, compiled, "THROUGHPUT"))
    return widened, int(widened.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))


def open_openvino(xml: Path, origin: Detector, *, threads: int = 0, compiled: Path | None = None) -> OpenVINODetector:
    """Compile `xml` (beside its `.bin`) for the CPU in fp32 and wrap it as a Detector that answers
    for `origin` (its names, family and head). `compiled`: OpenVINO's model cache, where the first
    compile leaves its result and later ones import it (0.35 s instead of 0.8 s for the demo model on
    a loaded 2-core EPYC); the caller verifies what is in it. Raises AdapterRefused for an export it
    cannot run as Ultralytics would, and OpenVINO's errors for a broken one."""
    ov = lean_openvino()

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
    runnable = core.compile_model(model, "CPU", config)
    ref = ModelRef(origin.ref.spec, str(xml.parent), origin.ref.family, "exported")
    detector = OpenVINODetector(
        ref=ref,
        names=dict(origin.names),
        device="cpu",
        half=False,
        end2end_capable=origin.end2end_capable,
        load_s=time.perf_counter() - start,
        native_imgsz=max(shape[2:]),
        stride=origin.stride,
        backend="openvino",
        origin=origin.origin or origin.ref,
        input_hw=(shape[2], shape[3]),
        rows=output[1].get_length(),
        _pool=RequestPool(runnable, LATENCY_REQUESTS, widen=lambda: _for_throughput(core, model, threads, compiled)),
        _model=runnable,
    )
    return detector
