"""Find model weights and load them into a `Detector`.

Weights lookup: explicit path -> our weights dirs (option, ATTN_DETECT_WEIGHTS_DIR,
config) -> Ultralytics' weights dir -> Ultralytics' download -> `ModelLoadError`
naming the file, its URL and where to put it. Ultralytics objects never leave this
module: `Detector.predict` returns our own `Detections`.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detect_cli.detections import Detections
from detect_cli.errors import ConfigError, ModelLoadError
from detect_cli.results import Timing

Family = Literal["yolo", "rtdetr"]
Kind = Literal["weights", "yaml", "exported"]

RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/{name}"
ALIASES = {
    **{f"yolo26{s}": f"yolo26{s}.pt" for s in "nsmlx"},
    "rtdetr-l": "rtdetr-l.pt",
    "rtdetr-x": "rtdetr-x.pt",
}
PACKAGED = {"demo": "demo.pt", "demo-rtdetr": "demo-rtdetr.pt"}
PACKAGED_DIR = Path(__file__).parent / "weights"
EXPORTED_SUFFIXES = frozenset({".onnx", ".torchscript", ".engine", ".tflite", ".mlpackage", ".pb"})
WEIGHTS_ENV = "ATTN_DETECT_WEIGHTS_DIR"
DEFAULT_IMGSZ = 640
TRUST_HINT = "pass --trust-model only if you trust where the file came from"
_RESTRICTED_LOAD_MARKS = (  # Ultralytics' and torch's words when restricted loading refuses a file
    "restricted model load", "outside the supported", "under restricted loading", "Weights only load failed",
)


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what the user asked for, the file (or YAML name) to load, its family."""

    spec: str
    path: str
    family: Family
    kind: Kind


def weights_dirs(option: str | Path | None = None, config: str | Path | None = None) -> list[Path]:
    """Our weights directories in lookup order: --weights-dir, the environment, the config."""
    dirs = [option, os.environ.get(WEIGHTS_ENV), config]
    return [Path(d).expanduser().resolve() for d in dirs if d]


def resolve_model(spec: str, search_dirs: Sequence[Path] = (), *, download: bool = True) -> ModelRef:
    spec = spec.strip()
    if spec in PACKAGED:
        path = PACKAGED_DIR / PACKAGED[spec]
        if not path.is_file():
            raise ModelLoadError(
                f"the '{spec}' model is not in this install ({path} is missing)",
                f"train it with `python -m detect_cli.demo.{'train_rtdetr' if 'rtdetr' in spec else 'train'}`",
            )
        return ModelRef(spec, str(path), sniff_family(path), "weights")
    if spec.lower().endswith((".yaml", ".yml")):
        return ModelRef(spec, spec, family_from_yaml(spec), "yaml")
    path = Path(spec).expanduser()
    if path.exists():
        return ModelRef(spec, str(path), sniff_family(path), kind_of(path))
    if path.name != spec:
        raise ModelLoadError(f"model file not found: {spec}", "check the path")
    name = ALIASES.get(spec, spec)
    if name not in ALIASES.values() and Path(name).suffix != ".pt":
        close = difflib.get_close_matches(spec, [*ALIASES, *PACKAGED], n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join([*ALIASES, *PACKAGED])}"
        raise ModelLoadError(f"unknown model '{spec}'", hint)
    found = find_weights(name, search_dirs, download=download)
    return ModelRef(spec, str(found), sniff_family(found), "weights")


def find_weights(name: str, search_dirs: Sequence[Path], *, download: bool = True) -> Path:
    ultralytics_dir = ultralytics_weights_dir()
    for folder in [*search_dirs, ultralytics_dir]:
        if (folder / name).is_file():
            return folder / name
    target_dir = search_dirs[0] if search_dirs else ultralytics_dir
    if download:
        existed = target_dir.exists()
        with contextlib.suppress(Exception):
            fetched = download_weights(name, target_dir)
            if fetched.is_file() and fetched.stat().st_size > 0:
                return fetched
        if not existed:  # leave no empty folder behind in the user's working directory
            with contextlib.suppress(OSError):
                target_dir.rmdir()
    raise ModelLoadError(
        f"model weights '{name}' not found locally and could not be downloaded",
        f"download {RELEASE_URL.format(name=name)} and put it in {target_dir}, or pass --weights-dir DIR",
    )


def ultralytics_weights_dir() -> Path:
    from detect_cli.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.utils import SETTINGS

    return Path(SETTINGS["weights_dir"]).resolve()


def download_weights(name: str, target_dir: Path) -> Path:
    """Ultralytics' own downloader (it knows the release assets); its chatter goes to stderr."""
    from ultralytics.utils.downloads import attempt_download_asset

    target_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):
        return Path(attempt_download_asset(target_dir / name))


def kind_of(path: Path) -> Kind:
    if path.is_dir() or path.suffix.lower() in EXPORTED_SUFFIXES:
        return "exported"
    return "yaml" if path.suffix.lower() in {".yaml", ".yml"} else "weights"


def sniff_family(path: Path) -> Family:
    """RT-DETR or YOLO, from the checkpoint's pickled class names (no full load), else the name."""
    if path.suffix == ".pt":
        try:
            with zipfile.ZipFile(path) as archive:
                pickle = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                return "rtdetr" if b"RTDETR" in archive.read(pickle) else "yolo"
        except (zipfile.BadZipFile, StopIteration, OSError) as exc:
            raise ModelLoadError(
                f"corrupt or unreadable checkpoint {path}: {exc}", "re-download or re-export it"
            ) from None
    if "rtdetr" in path.name.lower():
        return "rtdetr"
    return "rtdetr" if b"RTDETR" in exported_metadata(path) else "yolo"


def exported_metadata(path: Path) -> bytes:
    """The bytes where Ultralytics keeps an export's metadata (its `head` names RTDETRDecoder)."""
    try:
        if path.is_dir():
            meta = path / "metadata.yaml"
            return meta.read_bytes() if meta.is_file() else b""
        if path.suffix == ".torchscript":
            with zipfile.ZipFile(path) as archive:
                return b"".join(archive.read(n) for n in archive.namelist() if n.endswith("extra/config.txt"))
        if path.suffix == ".onnx":
            return path.read_bytes()  # metadata_props sit in the protobuf; a byte search is enough
    except (OSError, zipfile.BadZipFile):
        pass
    return b""


def family_from_yaml(spec: str) -> Family:
    path = Path(spec)
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "rtdetr" if "rtdetr" in spec.lower() or "RTDETRDecoder" in text else "yolo"


@dataclass(frozen=True)
class PredictOptions:
    conf: float = 0.25
    iou: float = 0.7
    imgsz: int = DEFAULT_IMGSZ
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    nms: bool = False  # YOLO26: False = the NMS-free end-to-end head


@dataclass
class Detector:
    """A loaded model that turns BGR arrays into `Detections`."""

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
    backend_reason: str = ""  # why that runtime (set by backends.choose_backend)
    origin: ModelRef | None = None  # for an export made by attn-detect: the model the user named

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
        """Whether NMS runs (so --iou matters): never for RT-DETR, only with --nms for YOLO26."""
        if self.ref.family == "rtdetr":
            return False
        return options.nms or not self.end2end_capable

    def checkpoint(self, folder: Path) -> Path:
        """A .pt file of exactly this model: the weights file itself, or for a model built from a
        YAML (random weights) a checkpoint saved from it, so other processes get the same weights."""
        if self.ref.kind != "yaml":
            return Path(self.ref.path)
        path = Path(folder) / f"{Path(self.ref.spec).stem}.pt"
        with contextlib.redirect_stdout(sys.stderr):
            self._model.save(path)
        return path

    def profile(self, imgsz: int) -> dict[str, float | None]:
        """Parameters (M), GFLOPs at imgsz, and the weights file size (MB); None where unknown."""
        from ultralytics.utils.torch_utils import get_flops, get_num_params

        net = getattr(self._model, "model", None)
        params = gflops = None
        if self.ref.kind != "exported" and net is not None:
            params = get_num_params(net) / 1e6
            with contextlib.suppress(Exception):
                gflops = get_flops(net, imgsz) or None
        path = Path(self.ref.path)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else None
        if path.is_file():
            size = path.stat().st_size
        return {"params_m": params, "gflops": gflops, "file_mb": size / 2**20 if size is not None else None}

    def class_ids(self, wanted: Sequence[str]) -> tuple[int, ...]:
        """Map class names or ids to ids; an unknown name lists the close matches."""
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
                raise ConfigError(f"--classes: unknown class '{item}' for model {self.ref.spec}", hint)
        return tuple(sorted(set(ids)))

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        if not images:
            return []
        nms_arg = None if self.ref.family == "rtdetr" or not self.end2end_capable else options.nms
        results = self._model.predict(
            images,
            conf=options.conf,
            iou=options.iou,
            imgsz=options.imgsz,
            max_det=options.max_det,
            classes=list(options.classes) if options.classes else None,
            device=self.device,
            nms=nms_arg,
            **({"quantize": 16} if self.half else {}),
            batch=len(images),
            verbose=False,
            save=False,
        )
        converted = [_convert(r) for r in results]
        predictor = getattr(self._model, "predictor", None)
        if predictor is not None:  # it keeps the last batch until the next call: up to twice the in-flight bound
            predictor.dataset = predictor.batch = predictor.results = None
        return converted


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
    from detect_cli.ultralytics_env import import_ultralytics, model_loading, openvino_in_fp32, use_all_cores

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
        use_all_cores(threads)
        if half:
            notes.append("--half ignored: half precision is not supported on the CPU; running fp32")
            half = False
    if ref.kind == "yaml":
        notes.append(f"{ref.spec} is a model definition: the weights are RANDOM, detections are meaningless")

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
    head = model.model.model[-1] if ref.kind != "exported" and hasattr(model.model, "model") else None
    end2end_capable = getattr(head, "one2one_cv2", None) is not None
    native, stride = _native_size(model, ref)
    backend = "torch" if ref.kind != "exported" else export_format(Path(ref.path))
    return Detector(ref, names, str(device), half, end2end_capable, load_s, notes, model, native, stride, backend)


def _native_size(model: Any, ref: ModelRef) -> tuple[int | None, int]:
    """(training or export size, stride): a checkpoint keeps `imgsz` in its args, an export in its metadata."""
    if ref.kind == "exported":
        return _first_int(export_metadata(Path(ref.path)).get("imgsz")), 32
    net = getattr(model, "model", None)
    strides = getattr(net, "stride", None)
    stride = int(max(strides)) if strides is not None and len(strides) else 32
    native = _first_int(model.overrides.get("imgsz")) if ref.kind == "weights" else None
    return native, max(stride, 1)


def _first_int(value: Any) -> int | None:
    if isinstance(value, (list, tuple)) and value:
        value = max(value)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def export_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith("_openvino_model"):
        return "openvino"
    if name.endswith("_ncnn_model"):
        return "ncnn"
    return path.suffix.lower().lstrip(".") or "exported"


def export_metadata(path: Path) -> dict[str, Any]:
    """An export's metadata (imgsz, names, ...), read as data: never evaluated."""
    import ast

    import yaml

    raw = exported_metadata(path)
    if path.is_dir():
        with contextlib.suppress(yaml.YAMLError):
            data = yaml.safe_load(raw.decode("utf-8", "replace"))
            return data if isinstance(data, dict) else {}
        return {}
    if path.suffix == ".torchscript":
        import json

        with contextlib.suppress(ValueError):
            data = json.loads(raw.decode("utf-8", "replace"))
            return data if isinstance(data, dict) else {}
        return {}
    # ONNX: metadata_props are (key, value) string pairs in the protobuf; read imgsz without onnx
    found = re.search(rb"\x0a\x05imgsz\x12.(\[[0-9, ]{1,40}\])", raw)
    if found:
        with contextlib.suppress(ValueError, SyntaxError):
            return {"imgsz": ast.literal_eval(found.group(1).decode())}
    return {}
