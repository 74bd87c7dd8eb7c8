"""Settings for a run: `configs/default.yaml`, then `--config FILE`, then flags.

A bad key or value is a `ConfigError` that names the key and where it came from.

Long because every setting of every command is declared and validated here, once.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from detect_cli.core.bounded_yaml import load_bounded
from detect_cli.core.choices import (
    BACKENDS,
    ENGINES,
    LETTERBOXES,
    OUTPUT_FORMATS,
    PRECISIONS,
    REDACT_STYLES,
    SLICE_MATCHES,
    SLICE_MERGES,
    TRACKERS,
    ZONE_ANCHORS,
)
from detect_cli.core.errors import ConfigError
from detect_cli.core.guarded_read import UnreadableFile, read_bytes


@dataclass(frozen=True)
class DetectSettings:
    """Every setting of a run. No defaults here: they are `configs/default.yaml`'s, the one place."""

    model: str
    weights_dir: str | None
    backend: str
    precision: str  # fp32, or int8: quantized here, used once the accuracy gate passes
    calibration: str | None  # --precision int8: images to calibrate on (folder, glob, file); None: the run's own
    conf: float
    iou: float
    imgsz: int | None  # None: the size the model was trained or exported at
    max_det: int
    device: str
    batch: int
    classes: tuple[str, ...] | None
    half: bool
    nms: bool
    letterbox: str  # auto, square or rect: how a picture is put into the network's input
    threads: int
    recursive: bool
    max_pixels: int
    url_timeout: float
    url_max_mb: float
    tables: int
    slice: str | None  # None: no slicing; "auto" or "WxH" (see pipeline/slicing.py)
    slice_overlap: float
    slice_full: bool
    slice_merge: str
    slice_match: str
    slice_tiles: bool
    max_det_image: int | None  # --slice: the most merged boxes an image keeps; None: every one
    zones: tuple[str, ...] | None  # --zone NAME=X1,Y1,...: polygons (core/polygons.py)
    zone_anchor: str
    heatmap_classes: str  # --heatmap's maps: all, each, or class names
    class_conf: tuple[tuple[str, float], ...] | None  # --conf 0.3,circle=0.8: per-class minimum confidence
    agnostic_nms: bool  # one NMS over every class (only where NMS runs)
    save_crop: str | None  # --save-crop DIR: one image per box, DIR/<class>/<image>_<index>.jpg
    redact: tuple[str, ...] | None  # classes hidden in saved and shown pictures
    redact_style: str  # blur, pixelate or fill
    line_width: int | None  # box outline in pixels; None: from the image size
    hide_labels: bool
    hide_conf: bool
    hide_boxes: bool  # pictures without boxes (e.g. only redacted, to share)
    stream_buffer: bool  # live streams: every frame (true) or the newest one (false: keeps up)
    show: bool  # a window with the annotated frames as they are made

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = list(self.classes) if self.classes else None
        data["zones"] = list(self.zones) if self.zones else None
        data["class_conf"] = dict(self.class_conf) if self.class_conf else None
        data["redact"] = list(self.redact) if self.redact else None
        return data

    def class_thresholds(self) -> dict[str, float]:
        """Per-class minimum confidence (class name or id as given -> threshold); the rest use `conf`."""
        return dict(self.class_conf or ())


def _number(kind: type, low: float | None = None, high: float | None = None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or (kind is int and value != int(value))
        ):
            raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            got = kind(value)  # conf=2 from Python reads as --conf 2 does: "got 2.0"
            raise ValueError(
                f"must be between {low} and {high}, got {got}"
                if high is not None
                else f"must be at least {low}, got {got}"
            )
        return kind(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
        raise ValueError(f"expected text, got {value!r}")
    return str(value).strip()


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return check


AUTO = "auto"
MIN_TILE, MAX_TILE = 32, 8192
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*$")


def parse_size(text: str) -> tuple[int, int] | None:
    """'640x480' -> (640, 480), '640' -> (640, 640), 'auto' -> None; ValueError otherwise."""
    if str(text).strip().lower() == AUTO:
        return None
    found = _SIZE.match(str(text))
    if not found:
        raise ValueError(f"expected WxH (e.g. 640x640), a single size, or auto, got {text!r}")
    width, height = int(found[1]), int(found[2] or found[1])
    if not (MIN_TILE <= width <= MAX_TILE and MIN_TILE <= height <= MAX_TILE):
        raise ValueError(f"tile sides must be between {MIN_TILE} and {MAX_TILE} pixels, got {width}x{height}")
    return width, height


def _slice(value: Any) -> str:
    size = parse_size(_text(value))
    return "auto" if size is None else f"{size[0]}x{size[1]}"


def _zones(value: Any) -> tuple[str, ...]:
    from detect_cli.core.errors import AttnDetectError
    from detect_cli.core.polygons import parse_zones

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(i, str) for i in items):
        raise ValueError(f"expected a list of NAME=X1,Y1,X2,Y2,... polygons, got {value!r}")
    try:
        parse_zones(items)
    except AttnDetectError as exc:
        raise ValueError(str(exc).removeprefix("--zone ")) from None
    return tuple(i.strip() for i in items)


def _conf(value: Any) -> float | tuple[float | None, tuple[tuple[str, float], ...]]:
    """0.25; or "0.3,circle=0.8,2=0.5" (a default and per-class values; the default may be left out);
    or a mapping {default: 0.3, circle: 0.8}. Per-class values come back beside the default."""
    if not isinstance(value, (str, Mapping)):
        return _number(float, 0.0, 1.0)(value)
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts:
            raise ValueError(f"expected a number or DEFAULT,CLASS=VALUE,..., got {value!r}")
        pairs: list[tuple[str, Any]] = []
        for part in parts:
            name, eq, number = part.rpartition("=")
            if not eq:
                pairs.append(("default", _float_text(part)))
            elif not name.strip():
                raise ValueError(f"{part!r}: a class name is missing before '='")
            else:
                pairs.append((name.strip(), _float_text(number)))
    else:
        pairs = [(str(k).strip(), v) for k, v in value.items()]
    default, per_class = None, {}
    for name, number in pairs:
        checked = _number(float, 0.0, 1.0)(number)
        if name.lower() == "default":
            if default is not None:
                raise ValueError(f"two default thresholds in {value!r}")
            default = checked
        elif name in per_class:
            raise ValueError(f"class {name!r} is given twice in {value!r}")
        else:
            per_class[name] = checked
    if not per_class:
        assert default is not None
        return default
    return default, tuple(per_class.items())


def _float_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text.strip()!r} (write --conf 0.3,circle=0.8)") from None


def _class_conf(value: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping) or any(not str(k).strip() for k in value):
        raise ValueError(f"expected a mapping of class: threshold, e.g. {{circle: 0.8}}, got {value!r}")
    return tuple((str(k).strip(), _number(float, 0.0, 1.0)(v)) for k, v in value.items())


def _classes(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"expected a list of class names or ids, got {value!r}")
    return tuple(str(i).strip() for i in items if str(i).strip())


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "model": _text,
    "weights_dir": _optional(_text),
    "backend": _choice(*BACKENDS),
    "precision": _choice(*PRECISIONS),
    "calibration": _optional(_text),
    "conf": _conf,
    "iou": _number(float, 0.0, 1.0),
    "imgsz": _optional(_number(int, 32, 8192)),
    "max_det": _number(int, 1),
    "device": _text,
    "batch": _number(int, 1, 1024),
    "classes": _optional(_classes),
    "half": _boolean,
    "nms": _boolean,
    "letterbox": _choice(*LETTERBOXES),
    "threads": _number(int, 0),
    "recursive": _boolean,
    "max_pixels": _number(int, 1),
    "url_timeout": _number(float, 0.1),
    "url_max_mb": _number(float, 0.001),
    "tables": _number(int, -1),
    "slice": _optional(_slice),
    "slice_overlap": _number(float, 0.0, 0.9),
    "slice_full": _boolean,
    "slice_merge": _choice(*SLICE_MERGES),
    "slice_match": _choice(*SLICE_MATCHES),
    "slice_tiles": _boolean,
    "max_det_image": _optional(_number(int, 1)),
    "zones": _optional(_zones),
    "zone_anchor": _choice(*ZONE_ANCHORS),
    "heatmap_classes": _text,
    "class_conf": _optional(_class_conf),
    "agnostic_nms": _boolean,
    "save_crop": _optional(_text),
    "redact": _optional(_classes),
    "redact_style": _choice(*REDACT_STYLES),
    "line_width": _optional(_number(int, 1, 100)),
    "hide_labels": _boolean,
    "hide_conf": _boolean,
    "hide_boxes": _boolean,
    "stream_buffer": _boolean,
    "show": _boolean,
}
assert set(VALIDATORS) == {f.name for f in fields(DetectSettings)}


FLAGS = "the command line"
CONFIG_MAX_BYTES = 1 << 20  # the shipped defaults are 2 KB; a bigger "config" is a mistake, or an attack
CONFIG_DEADLINE_S = 10.0
BACKEND_ENV = "ATTN_DETECT_BACKEND"  # e.g. torch in CI jobs that must not export


def default_config_path() -> Path:
    """The shipped defaults: inside the wheel, or at the repo root in a source checkout."""
    here = Path(__file__).resolve().parents[1]  # the package folder
    for candidate in (here / "configs" / "default.yaml", here.parent / "configs" / "default.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("configs/default.yaml is missing from this install", "reinstall attn-detect")


def read_config(path: Path) -> dict[str, Any]:
    """A config file's mapping, read through the guarded reader (a regular file of at most
    CONFIG_MAX_BYTES) and the bounded YAML loader; ConfigError naming the file otherwise."""
    try:
        raw = read_bytes(path, CONFIG_MAX_BYTES, deadline_s=CONFIG_DEADLINE_S)
    except UnreadableFile as exc:
        hint = "a config is a small YAML file of key: value lines" if "limit" in str(exc) else None
        raise ConfigError(f"cannot read config {path}: {exc}", hint) from None
    try:
        data = load_bounded(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not valid YAML: not UTF-8 text (byte {exc.start + 1})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of key: value")
    return data


# A command's options that are not settings of the model run (what the run does, where its results go):
# a config may give them too, and a command takes the config's value where its flag is not given
# (cli/options.GroupedCommand). Checked here, with the file named, like every setting.
RUN_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "track": _boolean,
    "tracker": _choice(*TRACKERS),
    "count_line": _optional(_text),
    "vid_stride": _number(int, 1),
    "start": _number(float, 0.0),
    "end": _optional(_number(float, 0.0)),
    "save": _optional(_text),
    "heatmap": _optional(_text),
    "attention": _boolean,
    "format": _choice(*OUTPUT_FORMATS),
    "out": _optional(_text),
    "engine": _choice(*ENGINES),
    "address": _optional(_text),
    "actors": _number(int, 1),
    "gpus_per_actor": _number(float, 0.0),
    "resume": _boolean,
    "retry_failed": _boolean,
    "watch": _boolean,
    "save_conf": _boolean,
    "image_root": _optional(_text),
    "quiet": _boolean,
    "verbose": _boolean,
    "progress": _boolean,
}


def run_options(config: Path) -> dict[str, Any]:
    """The config's command options (RUN_OPTIONS), checked; ConfigError naming the key and file otherwise."""
    data = read_config(config)
    clean = {}
    for key in RUN_OPTIONS.keys() & data.keys():
        try:
            clean[key] = RUN_OPTIONS[key](data[key])
        except ValueError as exc:
            raise ConfigError(f"bad value for '{key}' in {config}: {exc}") from None
    return clean


def validate(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    clean = {}
    for key, value in values.items():
        label = f"--{str(key).replace('_', '-')}" if origin == FLAGS else f"'{key}'"
        if key in RUN_OPTIONS and origin != FLAGS:  # a command's option, not a setting (`run_options`)
            try:
                RUN_OPTIONS[key](value)
            except ValueError as exc:
                raise ConfigError(f"bad value for {label} in {origin}: {exc}") from None
            continue
        if key not in VALIDATORS:
            close = difflib.get_close_matches(str(key), VALIDATORS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(VALIDATORS)}"
            raise ConfigError(f"unknown setting '{key}' in {origin}", hint)
        try:
            clean[key] = VALIDATORS[key](value)
        except ValueError as exc:
            raise ConfigError(f"bad value for {label} in {origin}: {exc}") from None
    if isinstance(clean.get("conf"), tuple):  # conf with per-class values: they replace class_conf's
        default, per_class = clean.pop("conf")
        if default is not None:
            clean["conf"] = default
        clean["class_conf"] = per_class
    elif "conf" in clean and "class_conf" not in values and origin == FLAGS:
        clean["class_conf"] = None  # --conf 0.4 alone: one threshold for every class, as it says
    return clean


def load_settings(config: Path | None = None, overrides: Mapping[str, Any] | None = None) -> DetectSettings:
    """Defaults, then the config file, then $ATTN_DETECT_BACKEND, then the non-None overrides (flags)."""
    default_path = default_config_path()
    merged = validate(read_config(default_path), str(default_path))
    missing = set(VALIDATORS) - set(merged)
    if missing:
        raise ConfigError(f"{default_path} lacks {', '.join(sorted(missing))}", "reinstall attn-detect")
    backend_from = f"backend: {merged['backend']} in {default_path}"
    if config is not None:
        from_config = validate(read_config(config), str(config))
        merged.update(from_config)
        backend_from = f"backend: {merged['backend']} in {config}" if "backend" in from_config else backend_from
    if os.environ.get(BACKEND_ENV) and (overrides or {}).get("backend") is None:  # a flag wins, unread
        merged.update(validate({"backend": os.environ[BACKEND_ENV].strip()}, f"${BACKEND_ENV}"))
        backend_from = f"${BACKEND_ENV}={merged['backend']}"
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    merged.update(validate(flags, FLAGS))
    backend_from = f"--backend {merged['backend']}" if "backend" in flags else backend_from
    _check_precision(merged, backend_from, calibration_flag="calibration" in flags)
    return DetectSettings(**merged)


def _check_precision(merged: Mapping[str, Any], backend_from: str, *, calibration_flag: bool = False) -> None:
    """int8 runs on OpenVINO, and --calibration names images that exist and is given with --precision
    int8 (a config file may keep one for the runs that ask for int8): refused before any model loads."""
    if calibration_flag and merged["precision"] != "int8":
        raise ConfigError(
            f"--calibration {merged['calibration']} is for --precision int8, and this run is {merged['precision']}",
            "add --precision int8, or drop --calibration",
        )
    if merged["precision"] == "int8" and merged["backend"] in {"torch", "onnx"}:
        raise ConfigError(
            f"--precision int8 runs on OpenVINO, not {merged['backend']} ({backend_from})",
            "use --backend auto or openvino, or --precision fp32",
        )
    where = merged["calibration"]
    if where is not None and not os.path.exists(where) and not any(c in where for c in "*?["):
        raise ConfigError(f"--calibration {where}: no such file or folder", "give a folder of images like the run's")
