"""Shell completion values for --model, --models and --classes.

Runs on every Tab press, so it reads only small text files: no torch, Ultralytics or NumPy here.
The model aliases and class names are kept as data (tests check them against `weights.py`,
the packaged models' cards and Ultralytics' coco.yaml)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from detect_cli.models.lookup import PACKAGED_DIR, WEIGHTS_ENV

MODELS = {
    **{
        f"yolo26{s}": f"YOLO26 {size} (COCO, downloaded once)"
        for s, size in zip("nsmlx", ("nano", "small", "medium", "large", "extra large"))
    },
    "rtdetr-l": "RT-DETR large (COCO, downloaded once)",
    "rtdetr-x": "RT-DETR extra large (COCO, downloaded once)",
    "demo": "packaged YOLO26n trained on shapes (no download)",
    "demo-rtdetr": "packaged RT-DETR trained on shapes (no download)",
}
PACKAGED_CARDS = {"demo": "demo.json", "demo-rtdetr": "demo-rtdetr.json"}  # beside the weights: their class names
MODEL_SUFFIXES = (".pt", ".yaml", ".yml", ".onnx", ".torchscript", ".engine", ".tflite", ".pb", ".mlpackage")
EXPORT_DIR_SUFFIX = "_model"  # Ultralytics' export folders: yolo26n_openvino_model/, ..._ncnn_model/
COCO_NAMES = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)


def complete_model(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Aliases, then model files in the working folder and the weights folders. A path (with a
    slash) gets nothing from us, so the shell completes it as a file name."""
    if "/" in incomplete or incomplete.startswith(("~", ".")):
        return []
    found = [(name, about) for name, about in MODELS.items() if name.startswith(incomplete)]
    found += [(name, "in the working folder") for name in _model_files(Path.cwd(), incomplete)]
    for folder in _weights_dirs(ctx):
        found += [(name, f"in {folder}") for name in _model_files(folder, incomplete, (".pt",), exports=False)]
    return _unique(found)


def complete_models(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """compare --models a,b: complete the part after the last comma."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    return [(prefix + name, about) for name, about in complete_model(ctx, last)]


def complete_classes(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Class names of the model named earlier on the line (COCO for the aliases, the shapes for the
    packaged models; both when it is a file we would have to load to know), comma-separated."""
    model = (ctx.params or {}).get("model") or "yolo26n"
    if model in PACKAGED_CARDS:
        names = {n: f"{model} class" for n in packaged_classes(model)}
    elif model in MODELS:
        names = {n: "COCO class" for n in COCO_NAMES}
    else:
        names = {n: "COCO class" for n in COCO_NAMES} | {n: "demo class" for n in packaged_classes("demo")}
    head, _, last = incomplete.rpartition(",")
    chosen = {c.strip().lower() for c in head.split(",")} if head else set()
    prefix = f"{head}," if head else ""
    bash = os.environ.get("_ATTN_DETECT_COMPLETE", "").endswith("bash")  # bash inserts a value as it is
    return [
        (prefix + (name.replace(" ", "\\ ") if bash else name), about)
        for name, about in names.items()
        if name.lower().startswith(last.lower()) and name.lower() not in chosen
    ]


def packaged_classes(model: str) -> list[str]:
    """The class names written on a packaged model's card (JSON beside its weights)."""
    try:
        card = json.loads((PACKAGED_DIR / PACKAGED_CARDS[model]).read_text(encoding="utf-8"))
        return [str(c) for c in card.get("classes", [])]
    except (OSError, ValueError, KeyError, AttributeError):
        return []


def _model_files(
    folder: Path, prefix: str, suffixes: tuple[str, ...] = MODEL_SUFFIXES, *, exports: bool = True
) -> list[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    names = []
    for entry in entries:
        if not entry.name.startswith(prefix) or entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        wanted = exports and entry.name.endswith(EXPORT_DIR_SUFFIX) if is_dir else entry.name.lower().endswith(suffixes)
        if wanted:
            names.append(entry.name)
    return names


def _weights_dirs(ctx: typer.Context) -> list[Path]:
    given = (ctx.params or {}).get("weights_dir")
    return [Path(d).expanduser() for d in (given, os.environ.get(WEIGHTS_ENV)) if d]


def _unique(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    first: dict[str, str] = {}
    for value, about in items:
        first.setdefault(value, about)
    return list(first.items())
