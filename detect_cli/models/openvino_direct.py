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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.models.detector import Detector, PredictOptions, runs_rect
from detect_cli.models.letterbox import Placement, decode_rtdetr, decode_yolo_end2end, input_hw, letterbox, to_input
from detect_cli.models.lookup import ModelRef, export_imgsz
from detect_cli.models.openvino_lean import lean_openvino
from detect_cli.models.openvino_requests import RequestPool, Ticket

COMPILED = "compiled"  # OpenVINO's compiled model, beside the export in a cache entry
# Requests on the latency-compiled model: one runs while Python letterboxes the next image and decodes the
# last one's boxes (a caller that waits for each result only ever uses one)
LATENCY_REQUESTS = 2
KEEP_SHAPES = 4  # compiled input shapes kept at once besides the export's own (each holds its own copy of the weights)


class AdapterRefused(Exception):
    """This export is not one the adapter runs (dynamic shapes, an unexpected head): use Ultralytics'."""


class CompiledShapes:
    """The network compiled for each other input shape it has met, the `keep` most recently used kept.

    The export's own square is compiled with OpenVINO's model cache (`compiled/` in the cache entry,
    verified with it); other shapes (0.3-0.8 s each for the demo models) go to `shapes`, the entry's
    folder of compiled shapes, checked before OpenVINO reads it (`shape_cache.py`), or, without one,
    are compiled in memory once per run."""

    def __init__(self, model: Any, config: dict[str, Any], keep: int = KEEP_SHAPES, shapes: Path | None = None):
        self._model, self._config, self._keep = model, config, keep
        self._pools: OrderedDict[tuple[int, int], RequestPool] = OrderedDict()
        self.compiled: list[tuple[int, int]] = []  # every shape compiled in this run, in order
        self._shapes, self._memo, self._checked = shapes, None, False

    def pool(self, hw: tuple[int, int]) -> RequestPool:
        if hw in self._pools:
            self._pools.move_to_end(hw)
            return self._pools[hw]
        ov = lean_openvino()
        model = self._model.clone()
        model.reshape({0: ov.PartialShape([1, 3, *hw])})
        folder = self._cache_folder()
        config = {**self._config, "CACHE_DIR": str(folder)} if folder is not None else self._config
        runnable = ov.Core().compile_model(model, "CPU", config)
        if folder is not None:
            from detect_cli.models.shape_cache import record

            record(folder, self._memo)
        self._pools[hw] = RequestPool(runnable, LATENCY_REQUESTS)
        self.compiled.append(hw)
        while len(self._pools) > self._keep:  # a ticket in flight keeps its own request
            self._pools.popitem(last=False)
        return self._pools[hw]

    def _cache_folder(self) -> Path | None:
        """The entry's folder of compiled shapes, checked once per run before OpenVINO reads it."""
        if self._shapes is None:
            return None
        if not self._checked:
            from detect_cli.models.cache_files import DigestMemo
            from detect_cli.models.shape_cache import checked

            self._memo = DigestMemo(None)  # hashed once per run that meets another shape
            self._shapes = checked(self._shapes, self._memo)
            self._checked = True
        return self._shapes


@dataclass(kw_only=True)
class OpenVINODetector(Detector):
    """An OpenVINO export of a YOLO26 (end-to-end head) or RT-DETR model."""

    input_hw: tuple[int, int] = (640, 640)  # the square it was exported and verified at
    rows: int = 300  # the most boxes one pass can give (the head's top-k)
    _pool: Any = None  # openvino_requests.RequestPool: the requests in flight, at input_hw
    _shapes: CompiledShapes | None = field(default=None, repr=False)

    def input_for(self, orig_hw: tuple[int, int], options: PredictOptions) -> tuple[int, int]:
        """The input shape an image runs at: its own aspect where the letterbox asks for it and the
        network can be reshaped, else the export's square."""
        if self.letterbox_ran(options.letterbox) == "square":
            return self.input_hw
        return input_hw(orig_hw, self.input_hw[0], stride=self.stride, rect=True)

    def letterbox_ran(self, letterbox: str) -> str:
        """Our runner reshapes a dynamic export to each picture's own shape, RT-DETR's too (stretched)."""
        return "rect" if self.reshapable and runs_rect(self.ref.family, letterbox) else "square"

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        return self.predict_later(images, options)()

    def predict_later(
        self, images: list[np.ndarray], options: PredictOptions
    ) -> Callable[[], list[tuple[Detections, Timing]]]:
        """Start inference on `images` now (as many requests in flight as the pool holds, later
        calls' too) and return what waits for their results, in order. The export's batch is 1:
        Ultralytics splits a batch the same way."""
        started = [self._start(image, options) for image in images]
        return lambda: [self._finish(*one, options) for one in started]

    def _start(self, image: np.ndarray, options: PredictOptions) -> tuple[Ticket, Placement, float]:
        start = time.perf_counter()
        hw = self.input_for(image.shape[:2], options)
        boxed, placement = letterbox(image, hw, stretch=self.ref.family == "rtdetr")
        tensor = to_input(boxed)
        ready = time.perf_counter()
        # a shape met for the first time is compiled here (counted in neither preprocess nor inference)
        pool = self._pool if hw == self.input_hw or self._shapes is None else self._shapes.pool(hw)
        return pool.submit(tensor), placement, (ready - start) * 1e3

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


def open_openvino(
    xml: Path, origin: Detector, *, threads: int = 0, compiled: Path | None = None, shapes: Path | None = None
) -> OpenVINODetector:
    """Compile `xml` (beside its `.bin`) for the CPU in fp32 and wrap it as a Detector that answers
    for `origin` (its names, family and head). `compiled`: OpenVINO's model cache, where the first
    compile leaves its result and later ones import it (0.35 s instead of 0.8 s for the demo model on
    a loaded 2-core EPYC); the caller verifies what is in it. `shapes`: where the other input shapes a
    dynamic export meets are compiled to and imported from (`shape_cache.py` checks it). Raises
    AdapterRefused for an export it cannot run as Ultralytics would, and OpenVINO's errors for a
    broken one."""
    ov = lean_openvino()

    start = time.perf_counter()
    core = ov.Core()
    config = _compile_config(threads, compiled)
    model = core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin")))
    if len(model.inputs) != 1:
        raise AdapterRefused("the export has more than one input")
    dynamic = model.input(0).get_partial_shape().is_dynamic
    dynamic_model = model.clone() if dynamic else None
    if dynamic:
        size = export_imgsz(xml.parent)
        if size is None or len(model.input(0).get_partial_shape()) != 4:
            raise AdapterRefused("the export has dynamic shapes and no size of its own")
        model.reshape({0: ov.PartialShape([1, 3, size, size])})
    shape = [int(d) for d in model.input(0).get_shape()]
    if len(shape) != 4 or shape[:2] != [1, 3]:
        raise AdapterRefused(f"unexpected input shape {shape}")
    output = model.output(0).get_partial_shape()
    if output.is_dynamic or len(output) != 3 or output[2].get_length() != 6:
        raise AdapterRefused(f"unexpected output shape {output} (not an end-to-end head)")
    if origin.ref.family == "yolo" and not origin.end2end_capable:
        raise AdapterRefused("the model has no end-to-end head")
    runnable = core.compile_model(model, "CPU", config)
    in_memory = {k: v for k, v in config.items() if k != "CACHE_DIR"}
    keep = shapes if compiled is not None and threads <= 0 else None  # as `compiled`: the default configuration only
    other_shapes = CompiledShapes(dynamic_model, in_memory, shapes=keep) if dynamic else None
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
        reshapable=dynamic,
        _shapes=other_shapes,
    )
    return detector
