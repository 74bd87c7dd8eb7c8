"""Find a model: turn what the user named into a `ModelRef` (the file to load, its family and kind).

Lookup: a packaged model -> a YAML definition -> an explicit path -> our weights dirs (option,
ATTN_DETECT_WEIGHTS_DIR, config) -> Ultralytics' weights dir -> Ultralytics' download ->
`ModelLoadError` naming the file, its URL and where to put it. Nothing here loads a model
(`models.load_detector` does): the family is read from the file's bytes, never by unpickling it.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from detect_cli.core.errors import ModelLoadError

Family = Literal["yolo", "rtdetr"]
Kind = Literal["weights", "yaml", "exported"]

RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/{name}"
ALIASES = {
    **{f"yolo26{s}": f"yolo26{s}.pt" for s in "nsmlx"},
    "rtdetr-l": "rtdetr-l.pt",
    "rtdetr-x": "rtdetr-x.pt",
}
PACKAGED = {"demo": "demo.pt", "demo-rtdetr": "demo-rtdetr.pt"}
PACKAGED_DIR = Path(__file__).resolve().parents[1] / "demo" / "weights"
EXPORTED_SUFFIXES = frozenset({".onnx", ".torchscript", ".engine", ".tflite", ".mlpackage", ".pb"})
WEIGHTS_ENV = "ATTN_DETECT_WEIGHTS_DIR"
OFFLINE_VALUES = frozenset({"1", "true", "yes", "on", "y", "t"})  # YOLO_OFFLINE, read as Ultralytics reads it


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
                "reinstall attn-detect, or in a source checkout train it with "
                f"`python -m detect_cli.demo.{'train_rtdetr' if 'rtdetr' in spec else 'train'}`",
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
    offline = os.environ.get("YOLO_OFFLINE", "").strip().lower() in OFFLINE_VALUES
    if download and not offline:  # offline: not one network call (Ultralytics' downloader would try GitHub)
        existed = target_dir.exists()
        with contextlib.suppress(Exception):
            fetched = download_weights(name, target_dir)
            if fetched.is_file() and fetched.stat().st_size > 0:
                return fetched
        if not existed:  # leave no empty folder behind in the user's working directory
            with contextlib.suppress(OSError):
                target_dir.rmdir()
    why = "YOLO_OFFLINE is set, so no download was tried" if download and offline else "could not be downloaded"
    raise ModelLoadError(
        f"model weights '{name}' not found locally and {why}",
        f"download {RELEASE_URL.format(name=name)} and put it in {target_dir}, or pass --weights-dir DIR",
    )


def ultralytics_weights_dir() -> Path:
    """Ultralytics' weights dir: its settings file is plain JSON, read without importing Ultralytics
    (1.9 s with torch); only when there is none yet (a new machine) does Ultralytics write it."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        settings = _ultralytics_config_dir() / "settings.json"
        if settings.is_file() and settings.stat().st_size < 1 << 20:
            value = json.loads(settings.read_text(encoding="utf-8")).get("weights_dir")
            if isinstance(value, str) and value:
                return Path(value).resolve()
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.utils import SETTINGS

    return Path(SETTINGS["weights_dir"]).resolve()


def _ultralytics_config_dir() -> Path:
    """Where Ultralytics keeps settings.json (`ultralytics.utils.get_user_config_dir`)."""
    if os.environ.get("YOLO_CONFIG_DIR"):
        return Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Ultralytics"
    if sys.platform.startswith("win"):
        return Path.home() / "AppData" / "Roaming" / "Ultralytics"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "Ultralytics"


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
    import zipfile

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


def family_from_yaml(spec: str) -> Family:
    path = Path(spec)
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "rtdetr" if "rtdetr" in spec.lower() or "RTDETRDecoder" in text else "yolo"


def export_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith("_openvino_model"):
        return "openvino"
    if name.endswith("_ncnn_model"):
        return "ncnn"
    return path.suffix.lower().lstrip(".") or "exported"


def exported_metadata(path: Path) -> bytes:
    """The bytes where Ultralytics keeps an export's metadata (its `head` names RTDETRDecoder)."""
    import zipfile

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


def export_imgsz(folder: Path) -> int | None:
    """The square an export was made at (its metadata.yaml), e.g. for one with dynamic shapes."""
    size = export_metadata(folder).get("imgsz")
    size = max(size) if isinstance(size, (list, tuple)) and size else size
    return int(size) if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


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
