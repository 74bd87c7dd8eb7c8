"""The loaded model: `load_detector(ref)` turns a `ModelRef` (see `lookup.py`) into a `Detector`.

Ultralytics stays behind `Detector`: `predict` returns our own `Detections` and `Timing`, and
callers ask it for what else they need by name (`save`, `checkpoint`, `profile`; `network` and
`predictor` for attention capture, which hooks into the PyTorch module itself).

Long because it is the one module that touches Ultralytics' model objects: loading, prediction and
every question asked of the model stay together behind `Detector`.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError, ModelLoadError
from detect_cli.core.results import Timing
from detect_cli.models.lookup import export_format, export_metadata

if TYPE_CHECKING:
    from detect_cli.models.lookup import ModelRef

DEFAULT_IMGSZ = 640
# families whose `auto` letterbox is rect, measured (benchmarks/bench_shape.py): YOLO26 scores as well at
# its own aspect (mAP50-95 +0.0015 on 400 scenes of 2:1, 1:2, 4:3, 16:9) for half the pixels on a 2:1
# frame; RT-DETR, stretched to its rectangle, finds more (mAP50 +0.11) but places them worse (mAP50-95
# -0.018), so it keeps Ultralytics' square
RECT_BY_DEFAULT = ("yolo",)
TRUST_HINT = "pass --trust-model only if you trust where the file came from"
_RESTRICTED_LOAD_MARKS = (  # Ultralytics' and torch's words when restricted loading refuses a file
    "restricted model load",
    "outside the supported",
    "under restricted loading",
    "Weights only load failed",
)


@dataclass(frozen=True)
class PredictOptions:
    conf: float = 0.25
    iou: float = 0.7
    imgsz: int = DEFAULT_IMGSZ
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    nms: bool = False  # YOLO26: False = the NMS-free end-to-end head
    class_conf: tuple[tuple[int, float], ...] = ()  # class id -> its own minimum confidence (others: conf)
    agnostic: bool = False  # one NMS over every class (where NMS runs)
    letterbox: str = "auto"  # square: padded (YOLO) or stretched (RT-DETR) to imgsz x imgsz; rect: at its own aspect

    @property
    def floor(self) -> float:
        """The confidence the model predicts at: the lowest any class asks for (`keep` filters the rest)."""
        return min([self.conf, *(value for _, value in self.class_conf)])

    def keep(self, detections: Detections) -> Detections:
        """The boxes at or over their own class's threshold (all of them when no class has its own)."""
        if not self.class_conf or not len(detections):
            return detections
        thresholds = np.full(len(detections), self.conf, np.float32)
        for class_id, value in self.class_conf:
            thresholds[detections.class_id == class_id] = value
        return detections[detections.confidence >= thresholds]


def runs_rect(family: str, letterbox: str) -> bool:
    """Whether pictures run at their own aspect (the smallest stride multiple that holds them, as
    Ultralytics' `.pt` predict letterboxes) rather than at the square, under --letterbox `letterbox`.
    `auto` is the measured choice per family (benchmarks/bench_shape.py, the README's "The picture's
    own shape")."""
    if letterbox == "auto":
        return family in RECT_BY_DEFAULT
    return letterbox == "rect"


@dataclass(kw_only=True)
class Detector:
    """A loaded model that turns BGR arrays into `Detections`. Built by keyword; the runtime choice
    (`runtime.choose_backend`) gives a new one (`dataclasses.replace`) instead of changing it."""

    ref: ModelRef
    names: dict[int, str]
    device: str
    half: bool
    end2end_capable: bool
    load_s: float
    notes: list[str] = field(default_factory=list)
    _model: Any = field(default=None, repr=False)
    native_imgsz: int | None = None  # the size it was trained (or exported) at; None for a bare YAML
    stride: int = 32
    backend: str = "torch"  # the runtime that runs it: torch, or an export's format
    backend_reason: str = ""  # why that runtime (given by runtime.choose_backend)
    reshapable: bool = False  # an export with dynamic shapes: it can run at each picture's own shape
    precision: str = "fp32"  # int8: a quantized model that passed its accuracy gate (models/int8_gate.py)
    origin: ModelRef | None = None  # for an export made by attn-detect: the model the user named
    trusted: bool = False  # loaded with --trust-model (code in the file allowed to run)
    _loader: Callable[[], Detector] | None = field(default=None, repr=False)  # a model not loaded yet

    def _ultralytics(self) -> Any:
        """The Ultralytics model, loaded now if this detector was opened from what the cache knew."""
        if self._model is None and self._loader is not None:
            loaded, self._loader = self._loader(), None
            self._model, self.load_s = loaded._model, loaded.load_s
            self._take_facts(loaded)
        return self._model

    def _take_facts(self, loaded: Detector) -> None:
        """The loaded checkpoint's names, size, stride and head replace what the cache recorded of it,
        with a note where they differ (the record was damaged or edited; it is rewritten: known_models)."""
        facts = ("names", "native_imgsz", "stride", "end2end_capable")
        wrong = [name for name in facts if getattr(self, name) != getattr(loaded, name)]
        for name in wrong:
            setattr(self, name, getattr(loaded, name))
        if wrong:
            said = ", ".join(name.removesuffix("_capable").removeprefix("native_") for name in wrong)
            self.notes.append(
                f"the runtime cache's record of {self.ref.spec} was wrong ({said}): corrected from the checkpoint"
            )

    @property
    def weights_path(self) -> str:
        """The file whose bytes define this model's results (the user's checkpoint, not a cached export)."""
        return (self.origin or self.ref).path

    @property
    def fixed_imgsz(self) -> bool:
        """An export with static shapes runs at its own size whatever is asked (Ultralytics forces it)."""
        return self.ref.kind == "exported" and self.native_imgsz is not None

    def run_imgsz(self, requested: int | None) -> tuple[int, str | None]:
        """The size that really runs, and a note when it is not the one asked for.

        No request means the model's own size (as plain Ultralytics does), else 640; Ultralytics
        rounds a size up to a multiple of the stride, and a static export only runs at its own."""
        if self.fixed_imgsz:
            size = int(self.native_imgsz or DEFAULT_IMGSZ)
            if requested is not None and requested != size:
                return size, f"--imgsz {requested} ignored: this export only runs at {size}"
            return size, None
        wanted = requested if requested is not None else self.native_imgsz or DEFAULT_IMGSZ
        size = max(self.stride, -(-wanted // self.stride) * self.stride)
        if size != wanted:
            return size, f"--imgsz {wanted} rounded up to {size} (a multiple of the model's stride {self.stride})"
        return size, None

    def runs_nms(self, options: PredictOptions) -> bool:
        """Whether NMS runs (so --iou matters): never for RT-DETR, only with --nms for YOLO26; an
        export runs the head it was exported with (its metadata's `end2end`), whatever --nms says."""
        if self.ref.family == "rtdetr":
            return False
        if self.ref.kind == "exported":
            return not self.end2end_capable
        return options.nms or not self.end2end_capable

    def pass_cap(self, options: PredictOptions) -> int | None:
        """The most boxes a pass can be cut to by --max-det, or None when the model cannot return that
        many anyway (an RT-DETR returns at most one box per query: 300 for rtdetr-l, 30 for demo-rtdetr)."""
        head = self.network().model[-1] if self.ref.family == "rtdetr" and self.network() is not None else None
        queries = getattr(head, "num_queries", None)
        return None if queries is not None and queries <= options.max_det else options.max_det

    def checkpoint(self, folder: Path) -> Path:
        """A .pt file of exactly this model: the weights file itself, or for a model built from a
        YAML (random weights) a checkpoint saved from it, so other processes get the same weights."""
        if self.ref.kind != "yaml":
            return Path(self.ref.path)
        return self.save(Path(folder) / f"{Path(self.ref.spec).stem}.pt")

    def save(self, path: Path) -> Path:
        """Write the loaded model (weights as they are in memory) as an Ultralytics .pt checkpoint."""
        with contextlib.redirect_stdout(sys.stderr):
            self._ultralytics().save(path)
        return path

    def network(self) -> Any:
        """The loaded PyTorch module (Ultralytics' `DetectionModel`); None for an export, which has none."""
        return None if self.ref.kind == "exported" else getattr(self._ultralytics(), "model", None)

    @property
    def predictor(self) -> Any:
        """Ultralytics' predictor; its `model` wraps the network predictions really run through (where
        attention hooks attach). None until the first `predict`; some option changes build a new one."""
        return getattr(self._model, "predictor", None)

    @property
    def runtime(self) -> str:
        """What runs it and at what precision: torch, openvino, openvino int8, onnx."""
        return f"{self.backend} int8" if self.precision == "int8" else self.backend

    def letterbox_ran(self, letterbox: str) -> str:
        """How a picture of another shape than the square runs under --letterbox `letterbox`: "rect" (at
        its own aspect) or "square". An export on Ultralytics' wrapper runs at its aspect only if it was
        exported with dynamic shapes, and only a YOLO (Ultralytics stretches RT-DETR to its square)."""
        rect = runs_rect(self.ref.family, letterbox)
        if self.ref.kind == "exported":
            rect = rect and self.reshapable and self.ref.family == "yolo"
        return "rect" if rect else "square"

    def profile(self, imgsz: int) -> dict[str, float | None]:
        """Parameters (M), GFLOPs at imgsz, and the weights file size (MB); None where unknown."""
        net = self.network()
        params = gflops = None
        if net is not None:
            from ultralytics.utils.torch_utils import get_flops, get_num_params

            params = get_num_params(net) / 1e6
            with contextlib.suppress(Exception):
                gflops = get_flops(net, imgsz) or None
        return {"params_m": params, "gflops": gflops, "file_mb": self.file_mb()}

    def file_mb(self) -> float | None:
        """The size of what runs (the weights file, or an export's folder) in MB; None if it is not there."""
        path = Path(self.ref.path)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else None
        if path.is_file():
            size = path.stat().st_size
        return size / 2**20 if size is not None else None

    def class_ids(self, wanted: Sequence[str], flag: str = "--classes") -> tuple[int, ...]:
        """Map class names or ids to ids; an unknown name lists the close matches (`flag` names the option)."""
        by_name = {n.lower(): i for i, n in self.names.items()}
        ids = []
        for item in wanted:
            item = item.strip()
            if item.isdigit() and int(item) in self.names:
                ids.append(int(item))
            elif item.lower() in by_name:
                ids.append(by_name[item.lower()])
            else:
                close = difflib.get_close_matches(item.lower(), by_name, n=3)
                hint = (
                    f"did you mean {', '.join(close)}?"
                    if close
                    else f"this model knows: {', '.join(self.names.values())}"
                )
                raise ConfigError(f"{flag}: unknown class '{item}' for model {self.ref.spec}", hint)
        return tuple(sorted(set(ids)))

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        if not images:
            return []
        fixed_head = self.ref.family == "rtdetr" or not self.end2end_capable or self.ref.kind == "exported"
        nms_arg = None if fixed_head else options.nms
        results: list[Any] = [None] * len(images)
        for indices, imgsz, rect in self.passes(images, options):
            ran = self._ultralytics().predict(
                [images[i] for i in indices],
                conf=options.floor,
                iou=options.iou,
                imgsz=imgsz,
                rect=rect,
                max_det=options.max_det,
                classes=list(options.classes) if options.classes else None,
                device=self.device,
                nms=nms_arg,
                agnostic_nms=options.agnostic,
                **({"quantize": 16} if self.half else {}),
                batch=len(indices),
                verbose=False,
                save=False,
            )
            for i, result in zip(indices, ran):
                results[i] = result
        # a pass that returned --max-det boxes may have had more (the run table says so: core/caps.py)
        cap = self.pass_cap(options)
        converted = [
            (options.keep(d.with_metadata(**{CAPS: Capped.of_passes([len(d)], cap)})), t)
            for d, t in map(_convert, results)
        ]
        predictor = self.predictor
        if predictor is not None:  # it keeps the last batch until the next call: up to twice the in-flight bound
            predictor.dataset = predictor.batch = predictor.results = None
        return converted

    def passes(
        self, images: list[np.ndarray], options: PredictOptions
    ) -> list[tuple[list[int], int | tuple[int, int], bool]]:
        """Ultralytics' predict calls for a batch: (which images, imgsz, rect). One call, unless pictures
        of different shapes run at their own aspects: Ultralytics pads a batch of mixed shapes to the
        square, so each shape gets its own call and a picture's boxes never depend on its neighbours.
        YOLO at its aspect is Ultralytics' rect letterbox; RT-DETR, which Ultralytics stretches to the
        square, is stretched to its rectangle instead (`letterbox.input_hw`)."""
        rect = self.letterbox_ran(options.letterbox) == "rect"  # a static export: the square, as Ultralytics runs it
        if not rect:
            return [(list(range(len(images))), options.imgsz, False)]
        from detect_cli.models.letterbox import input_hw

        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(image.shape[:2], []).append(i)
        if self.ref.family == "rtdetr":
            return [
                (indices, input_hw(shape[:2], options.imgsz, stride=self.stride, rect=True), False)  # type: ignore[arg-type]
                for shape, indices in by_shape.items()
            ]
        return [(indices, options.imgsz, True) for indices in by_shape.values()]


def coco_names() -> dict[int, str]:
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    return {int(k): str(v) for k, v in YAML.load(check_yaml("coco.yaml"))["names"].items()}


def _convert(result: Any) -> tuple[Detections, Timing]:
    """Our `Detections`, boxes clipped to the image: RT-DETR's head scales normalised centre/size
    boxes without clipping them (x1 = -0.7 on a ring at the edge), YOLO's postprocess already clips."""
    boxes = result.boxes
    height, width = result.orig_shape[:2]
    xyxy = boxes.xyxy.cpu().numpy().copy()
    xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, height)
    detections = Detections(xyxy, boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64))
    speed = result.speed or {}
    timing = Timing(
        preprocess=speed.get("preprocess") or 0.0,
        inference=speed.get("inference") or 0.0,
        postprocess=speed.get("postprocess") or 0.0,
    )
    return detections, timing


def load_detector(
    ref: ModelRef,
    *,
    device: str = "cpu",
    half: bool = False,
    threads: int = 0,
    verbose: bool = False,
    trusted: bool = False,
) -> Detector:
    """Load without running code from the file unless `trusted` (see `ultralytics_env.model_loading`)."""
    from detect_cli.models.ultralytics_env import import_ultralytics, model_loading, openvino_in_fp32, set_torch_threads

    import_ultralytics(verbose)
    from ultralytics import RTDETR, YOLO
    from ultralytics.utils.torch_utils import select_device

    notes: list[str] = []
    if ref.kind == "exported" and export_format(Path(ref.path)) == "openvino":
        openvino_in_fp32()
    try:
        torch_device = select_device(device, verbose=False)
    except Exception as exc:
        raise ConfigError(f"--device {device}: {exc}".splitlines()[0], "use cpu, or a GPU index such as 0") from None
    if torch_device.type == "cpu":
        set_torch_threads(threads)
        if half:
            notes.append("--half ignored: half precision is not supported on the CPU; running fp32")
            half = False
    if ref.kind == "yaml":
        notes.append(f"{ref.spec} is a model definition: the weights are RANDOM, detections are meaningless")
    if not verbose:  # torch says so on every TorchScript load (at the first prediction): not the user's concern
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)

    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr), model_loading(trusted):
            model = YOLO(ref.path, task="detect") if ref.family == "yolo" else RTDETR(ref.path)
    except ModelLoadError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not trusted and any(mark in str(exc) for mark in _RESTRICTED_LOAD_MARKS):
            raise ModelLoadError(
                f"refused to load {ref.spec}: it would run code or build objects outside the Ultralytics model "
                "format, which a downloaded file can use to take over this machine",
                TRUST_HINT,
            ) from None
        raise ModelLoadError(
            f"cannot load model {ref.spec}: {message}", "check that the file is a complete Ultralytics model"
        ) from None
    load_s = time.perf_counter() - start

    names = {int(k): str(v) for k, v in (model.names or {}).items()}
    if ref.kind == "yaml" and names == {i: str(i) for i in range(80)}:
        names = coco_names()  # the stock YAMLs are the COCO architectures; name their 80 outputs
    meta = export_metadata(Path(ref.path)) if ref.kind == "exported" else {}
    if ref.kind == "exported":  # its head and precision are what it was exported with: its metadata says
        end2end_capable, precision = meta.get("end2end") is True, export_precision(meta, Path(ref.path))
    else:
        head = model.model.model[-1] if hasattr(model.model, "model") else None
        end2end_capable, precision = getattr(head, "one2one_cv2", None) is not None, "fp32"
    native, stride = _native_size(model, ref, meta)
    backend = "torch" if ref.kind != "exported" else export_format(Path(ref.path))
    args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
    return Detector(
        ref=ref,
        names=names,
        device=str(device),
        half=half,
        end2end_capable=end2end_capable,
        load_s=load_s,
        notes=notes,
        _model=model,
        native_imgsz=native,
        stride=stride,
        backend=backend,
        precision=precision,
        trusted=trusted,
        reshapable=args.get("dynamic") is True,
    )


def export_precision(meta: dict[str, Any], path: Path | None = None) -> str:
    """int8 or fp16 where an export's metadata says it was quantized (Ultralytics' `args.quantize` 8 or
    16, older ones' `args.int8` / `args.half`), or an OpenVINO folder's IR holds quantize operations
    (an INT8 export of an older attn-detect, whose metadata is its FP32 source's); else fp32."""
    args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
    quantize = args.get("quantize")
    if quantize in (8, "8", "int8") or args.get("int8") is True:
        return "int8"
    if quantize in (16, "16", "fp16") or args.get("half") is True:
        return "fp16"
    if path is not None and path.is_dir() and any(_holds(xml, b'type="FakeQuantize"') for xml in path.glob("*.xml")):
        return "int8"
    return "fp32"


def _holds(path: Path, marker: bytes) -> bool:
    """Whether the file holds `marker`, read a block at a time (an IR's .xml may be megabytes)."""
    tail = b""
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            if marker in tail + block:
                return True
            tail = block[-len(marker) :]
    return False


def _native_size(model: Any, ref: ModelRef, meta: dict[str, Any]) -> tuple[int | None, int]:
    """(training or export size, stride): a checkpoint keeps `imgsz` in its args, an export in its metadata."""
    if ref.kind == "exported":
        return _first_int(meta.get("imgsz")), 32
    net = getattr(model, "model", None)
    strides = getattr(net, "stride", None)
    stride = int(max(strides)) if strides is not None and len(strides) else 32
    native = _first_int(model.overrides.get("imgsz")) if ref.kind == "weights" else None
    return native, max(stride, 1)


def _first_int(value: Any) -> int | None:
    if isinstance(value, (list, tuple)) and value:
        value = max(value)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None
