"""Options shared by several commands (Annotated aliases keep signatures short).

Long because every option shared by several commands is declared here, once, with its help text.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperCommand

from detect_cli.cli import plain_values
from detect_cli.cli.completion import complete_classes, complete_model
from detect_cli.core import choices

if TYPE_CHECKING:  # Typer's own copy of Click
    from typer import _click as click

OutputFormat = Enum("OutputFormat", [(c, c) for c in choices.OUTPUT_FORMATS], type=str)


Sources = Annotated[
    list[str],
    typer.Argument(
        help="Images, videos (mp4, mov, avi, mkv, webm), folders, quoted globs ('shots/**/*.png'), http(s) URLs, "
        "streams (rtsp://, rtmp://, webcam:0, http .mjpg cameras, HLS .m3u8), @list.txt, or - for a list on stdin.",
        show_default=False,
    ),
]
Model = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        help="Alias (yolo26n/s/m/l/x, rtdetr-l/x, demo, demo-rtdetr), .pt checkpoint or model YAML.",
        show_default="yolo26n",
        autocompletion=complete_model,
    ),
]
WeightsDir = Annotated[
    Optional[Path], typer.Option(help="Folder to look for weights in first (also ATTN_DETECT_WEIGHTS_DIR).")
]
BackendName = Enum("BackendName", [(c, c) for c in choices.BACKENDS], type=str)


Backend = Annotated[
    Optional[BackendName],
    typer.Option(
        help="Runtime: auto = the fastest one verified on this machine to give PyTorch's boxes (cached after "
        "the first run); torch, openvino or onnx to choose.",
        show_default="auto",
    ),
]
PrecisionName = Enum("PrecisionName", [(c, c) for c in choices.PRECISIONS], type=str)
Precision = Annotated[
    Optional[PrecisionName],
    typer.Option(
        help="int8: quantize the model on this machine (once, cached) and use it only if it passes the accuracy "
        "gate against fp32 on held-out images; else fp32 runs, saying why. Needs attn-detect[int8].",
        show_default="fp32",
    ),
]
Calibration = Annotated[
    Optional[str],
    typer.Option(
        help="--precision int8: images to calibrate on (folder, glob or file), of the kind the run will see. "
        "Default: the run's own inputs (generated scenes for the demo models).",
        show_default=False,
    ),
]
TrustModel = Annotated[
    bool,
    typer.Option(
        "--trust-model",
        help="Allow a model file to run code while loading (pickled objects, Python in a YAML). "
        "Only for files from a source you trust.",
    ),
]
Conf = Annotated[Optional[float], typer.Option(help="Minimum confidence, 0..1.", show_default="0.25")]
ClassConf = Annotated[
    Optional[str],
    typer.Option(
        "--conf",
        help="Minimum confidence, 0..1; per class too: 0.3,circle=0.8 (a default, then CLASS=VALUE; the model "
        "predicts at the lowest and each class keeps its own).",
        show_default="0.25",
    ),
]
Iou = Annotated[
    Optional[float], typer.Option(help="NMS IoU threshold, 0..1 (only where NMS runs).", show_default="0.7")
]
Imgsz = Annotated[
    Optional[int],
    typer.Option(help="Inference size in pixels.", show_default="the model's training or export size, else 640"),
]
MaxDet = Annotated[
    Optional[int],
    typer.Option(
        help="Most boxes one model pass returns: per image, or per tile with --slice.",
        show_default="300",
    ),
]
Device = Annotated[Optional[str], typer.Option(help="auto, cpu, 0, cuda:0, mps.", show_default="auto")]
Batch = Annotated[Optional[int], typer.Option("--batch", "-b", help="Images per forward pass.", show_default="1")]
Classes = Annotated[
    Optional[str],
    typer.Option(
        help="Keep only these classes: names or ids, comma-separated (person,bus).", autocompletion=complete_classes
    ),
]
Half = Annotated[
    Optional[bool], typer.Option("--half/--no-half", help="FP16 inference (GPU only).", show_default=False)
]
Nms = Annotated[
    Optional[bool],
    typer.Option(
        "--nms/--no-nms", help="YOLO26: use the NMS head instead of the NMS-free end-to-end head.", show_default=False
    ),
]
LetterboxName = Enum("LetterboxName", [(c, c) for c in choices.LETTERBOXES], type=str)
Letterbox = Annotated[
    Optional[LetterboxName],
    typer.Option(
        help="How a picture enters the network: rect = at its own aspect (a 16:9 frame costs about half a "
        "square one), square = padded (YOLO) or stretched (RT-DETR) to imgsz x imgsz; auto = rect for YOLO, "
        "square for RT-DETR (measured; see the README).",
        show_default="auto",
    ),
]
Threads = Annotated[
    Optional[int], typer.Option(help="Torch CPU threads (0 = every core but one, as Ultralytics).", show_default="0")
]
Recursive = Annotated[
    Optional[bool],
    typer.Option("--recursive/--no-recursive", "-r", help="Descend into sub-folders.", show_default=False),
]
Format = Annotated[
    Optional[OutputFormat],
    typer.Option(
        "--format",
        "-f",
        help="table (the default on a terminal), json, jsonl, csv (detect also: coco, mot, "
        "and for annotation tools yolo, coco-dataset, labelstudio); to stdout, or to --out.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
Out = Annotated[
    Optional[Path],
    typer.Option("--out", "-o", help="Write results to FILE (format from .json/.jsonl/.csv/.coco.json)."),
]
# detect's --out also takes DIR/ (sharded output on Ray): a string, so the trailing slash survives
OutOrDir = Annotated[
    Optional[str],
    typer.Option(
        "--out",
        "-o",
        help="Write results to FILE (format from .json/.jsonl/.csv/.coco.json); "
        "with --engine ray, DIR/ gets JSONL shards written by the workers.",
    ),
]
Save = Annotated[Optional[Path], typer.Option(help="Write annotated images into DIR (names mirror the inputs).")]
Tables = Annotated[
    Optional[int],
    typer.Option(help="Per-image box tables to print: first N images, 0 none, -1 all.", show_default="10"),
]
Config = Annotated[Optional[Path], typer.Option(help="YAML file overriding configs/default.yaml.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Results only: no progress, notes or summary on stderr.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show Ultralytics' logs and tracebacks.")]
ShowProgress = Annotated[
    Optional[bool],
    typer.Option(
        "--progress/--no-progress",
        help="Progress on stderr (model loading, images done, rate, ETA).",
        show_default="on a terminal, unless --quiet",
    ),
]
Resume = Annotated[
    bool, typer.Option(help="Continue --out FILE (JSONL/CSV): skip inputs it already has, repair a cut last line.")
]
RetryFailed = Annotated[bool, typer.Option(help="With --resume: run the inputs that failed before again.")]
SaveConf = Annotated[
    bool,
    typer.Option(
        "--save-conf",
        help="--format yolo: a 6th column with each box's confidence (for review tools; Ultralytics "
        "trains on 5 columns only).",
    ),
]
ImageRoot = Annotated[
    Optional[str],
    typer.Option(
        "--image-root",
        metavar="PREFIX",
        help="--format labelstudio / coco-dataset: where the tool finds the images, a path or URL put before each "
        "input's relative name (e.g. https://host/photos/ or /data/local-files/?d=photos/).",
    ),
]
Watch = Annotated[
    bool,
    typer.Option(
        "--watch",
        help="Folders: detect in what is there, then in each new or replaced image as it lands, until "
        "Ctrl-C. With --out FILE.jsonl --resume, a restarted watcher goes on where it stopped.",
    ),
]
AttentionFlag = Annotated[bool, typer.Option("--attention", help="With --save: also write attention overlays.")]
# evaluate/compare with labels: the pictures of --save, and the numbers behind them in --format json
EvalSave = Annotated[
    Optional[Path],
    typer.Option(
        "--save",
        help="Write the evaluation's pictures into DIR: PR and F1 curves, confusion matrix, TIDE errors, the "
        "worst images, and an index.html showing them with the tables.",
    ),
]
Worst = Annotated[
    int,
    typer.Option(
        help="With --save: how many of the worst images to draw (most labels not found + false detections at --conf).",
        min=0,
    ),
]
MatrixConf = Annotated[
    Optional[float],
    typer.Option(help="Confidence the confusion matrix is made at.", show_default="--conf", min=0.0, max=1.0),
]
MatrixIou = Annotated[
    float, typer.Option(help="IoU a detection needs to match a label in the confusion matrix.", min=0.0, max=1.0)
]
FalseAttention = Annotated[
    bool,
    typer.Option(
        "--attention",
        help="With --save: for each false detection on the worst images, the attention map of where the model looked.",
    ),
]
WORST = 12  # the default of --worst (evaluation/worst.py has the same)
MATRIX_IOU = 0.5


VidStride = Annotated[
    Optional[int],
    typer.Option(
        "--vid-stride",
        help="Videos: run every Nth frame (the others are decoded, not run).",
        min=1,
        show_default="1",
    ),
]
MAX_SECONDS = 10**7  # 115 days: past any video, and small enough that seconds x frame rate stays exact


def _seconds(value: float | None) -> float | None:
    """A time in a video: finite, from 0 to MAX_SECONDS (inf, nan or 1e308 would overflow frame numbers)."""
    if value is not None and not 0 <= value <= MAX_SECONDS:  # False for nan too
        raise typer.BadParameter(f"{value:g} is not a time in a video: give seconds from 0 to {MAX_SECONDS:g}")
    return value


Start = Annotated[Optional[float], typer.Option(help="Videos: start at this time, in seconds.", callback=_seconds)]
End = Annotated[Optional[float], typer.Option(help="Videos: stop before this time, in seconds.", callback=_seconds)]
TrackFlag = Annotated[
    bool,
    typer.Option(
        "--track",
        help="Videos and folders of frames: a track id per box, and distinct objects per class in the summary.",
    ),
]


TrackerName = Enum("TrackerName", [(c, c) for c in choices.TRACKERS], type=str)


Tracker = Annotated[
    TrackerName,
    typer.Option(
        help="With --track: Ultralytics' BoT-SORT (no camera-motion step; the better IDF1 on our clips) or ByteTrack.",
    ),
]


CountLine = Annotated[
    Optional[str],
    typer.Option(
        "--count-line",
        metavar="X1,Y1,X2,Y2",
        help="Videos: count the tracked objects that cross this line (pixels, or a % of the frame), per class and "
        "direction (in: from its left to its right, walking from the first point to the second). Turns on --track.",
        show_default=False,
    ),
]


ZoneOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--zone",
        metavar="NAME=X1,Y1,X2,Y2,X3,Y3,...",
        help="Videos and folders of frames: count the objects in this polygon per frame and class, and how long each "
        "track stays (pixels, or % of the frame); repeatable. Turns on --track.",
        show_default=False,
    ),
]
ZoneAnchorName = Enum("ZoneAnchorName", [(c, c) for c in choices.ZONE_ANCHORS], type=str)
ZoneAnchor = Annotated[
    Optional[ZoneAnchorName],
    typer.Option(
        help="--zone: the point of a box that must be inside (bottom-center: where people and cars touch the ground).",
        show_default="bottom-center",
    ),
]
Heatmap = Annotated[
    Optional[Path],
    typer.Option(
        "--heatmap",
        metavar="DIR",
        help="Write where objects were (box centres) per video or folder of frames into DIR: a picture over the first "
        "frame with a colour scale, and the counts as .npy.",
    ),
]
HeatmapClasses = Annotated[
    Optional[str],
    typer.Option(
        help="--heatmap: all (one map, every class), each (one map per class), or class names (person,car).",
        show_default="all",
    ),
]


Engine = Enum("Engine", [(c, c) for c in choices.ENGINES], type=str)


EngineOpt = Annotated[Engine, typer.Option(help="local (this process) or ray (a Ray cluster, via Ray Data).")]
Address = Annotated[
    Optional[str],
    typer.Option(
        help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: RAY_ADDRESS, else a local instance)."
    ),
]
Actors = Annotated[int, typer.Option(help="Ray: model actors (each loads the model once).", min=1)]
GpusPerActor = Annotated[float, typer.Option(help="Ray: GPUs per actor (fractions share a GPU).", min=0)]


SliceMergeName = Enum("SliceMergeName", [(c, c) for c in choices.SLICE_MERGES], type=str)


SliceMatchName = Enum("SliceMatchName", [(c, c) for c in choices.SLICE_MATCHES], type=str)


Slice = Annotated[
    Optional[str],
    typer.Option(
        "--slice",
        metavar="WxH|auto",
        help="Sliced inference for small objects in big images: run WxH tiles (e.g. 320x320) and merge their boxes; "
        "auto = tiles of the model's size, only for images more than twice that size.",
        show_default="off",
    ),
]
SliceOverlap = Annotated[
    Optional[float],
    typer.Option(help="--slice: share of a tile overlapping its neighbour, 0..0.9.", show_default="0.2"),
]
SliceFull = Annotated[
    Optional[bool],
    typer.Option(
        "--slice-full/--no-slice-full",
        help="--slice: also run the whole image and merge its boxes in.",
        show_default=False,
    ),
]
SliceMerge = Annotated[
    Optional[SliceMergeName],
    typer.Option(
        help="--slice: nms keeps the best of overlapping boxes, nmm merges them into their union.",
        show_default="nms",
    ),
]
SliceMatch = Annotated[
    Optional[SliceMatchName],
    typer.Option(
        help="--slice: boxes are one object when their IoU, or IoS (intersection over the smaller), exceeds 0.5.",
        show_default="ios",
    ),
]
SliceTiles = Annotated[
    Optional[bool],
    typer.Option(
        "--slice-tiles/--no-slice-tiles",
        help="--slice: JSON/JSONL records give the tile that found each box.",
        show_default=False,
    ),
]


MaxDetImage = Annotated[
    Optional[int],
    typer.Option(
        "--max-det-image",
        help="--slice: the most boxes an image keeps after its tiles are merged (the most confident).",
        show_default="no cap",
    ),
]


def slice_flags(
    slice_: str | None,
    overlap: float | None,
    full: bool | None,
    merge: SliceMergeName | None,
    match: SliceMatchName | None,
    tiles: bool | None = None,
    max_det_image: int | None = None,
) -> dict[str, object]:
    """The --slice* flags (and --max-det-image) as settings overrides (None: not given)."""
    return {
        "slice": slice_,
        "slice_overlap": overlap,
        "slice_full": full,
        "slice_merge": merge.value if merge else None,
        "slice_match": match.value if match else None,
        "slice_tiles": tiles,
        "max_det_image": max_det_image,
    }


RedactStyleName = Enum("RedactStyleName", [(c, c) for c in choices.REDACT_STYLES], type=str)
SaveCrop = Annotated[
    Optional[Path],
    typer.Option(
        help="Write one image per box into DIR/<class>/<image>_<index>.jpg (video frames: <video>_f<frame>_<index>); "
        "never over an existing file.",
        show_default=False,
    ),
]
Redact = Annotated[
    Optional[str],
    typer.Option(
        help="Hide these classes (comma list of names or ids) in saved and shown pictures, the whole box; "
        "records say which boxes were redacted.",
        show_default=False,
        autocompletion=complete_classes,
    ),
]
RedactStyle = Annotated[Optional[RedactStyleName], typer.Option(help="How --redact hides a box.", show_default="blur")]
LineWidth = Annotated[
    Optional[int],
    typer.Option(help="Box outline in pixels in saved and shown pictures.", show_default="from the image size"),
]
HideLabels = Annotated[
    Optional[bool], typer.Option("--hide-labels/--show-labels", help="Boxes without labels.", show_default=False)
]
HideBoxes = Annotated[
    Optional[bool],
    typer.Option(
        "--hide-boxes/--show-boxes",
        help="Pictures without boxes or labels (with --redact: only the hiding).",
        show_default=False,
    ),
]
HideConf = Annotated[
    Optional[bool], typer.Option("--hide-conf/--show-conf", help="Labels without confidence.", show_default=False)
]
AgnosticNms = Annotated[
    Optional[bool],
    typer.Option(
        "--agnostic-nms/--class-nms",
        help="One NMS over every class (only where NMS runs: YOLO with --nms).",
        show_default=False,
    ),
]
StreamBuffer = Annotated[
    Optional[bool],
    typer.Option(
        "--stream-buffer/--stream-latest",
        help="Live streams (webcam, rtsp, rtmp): read every frame, falling behind a camera faster than the model; "
        "default: the newest frame (frames skipped are counted).",
        show_default=False,
    ),
]
Show = Annotated[
    Optional[bool],
    typer.Option(
        "--show/--no-show",
        help="A window with the annotated pictures as they are made; q or closing it ends the run as Ctrl-C does.",
        show_default=False,
    ),
]


def picture_flags(
    save_crop: Path | None,
    redact: str | None,
    redact_style: RedactStyleName | None,
    line_width: int | None,
    hide_labels: bool | None,
    hide_conf: bool | None,
    show: bool | None,
    hide_boxes: bool | None = None,
) -> dict[str, object]:
    """What is drawn, hidden, cut out and shown, as settings (None: the config's)."""
    return {
        "save_crop": str(save_crop) if save_crop is not None else None,
        "redact": redact,
        "redact_style": redact_style.value if redact_style else None,
        "line_width": line_width,
        "hide_labels": hide_labels,
        "hide_conf": hide_conf,
        "show": show,
        "hide_boxes": hide_boxes,
    }


# --help in groups, as Ultralytics' docs group its settings: each shared option type's panel, one table.
# An option not listed here (a command's own) shows under "Options".
PANELS = {
    "Model and runtime": (Model, WeightsDir, Backend, Precision, Calibration, TrustModel, Device, Half, Threads, Batch),
    "Prediction": (Conf, ClassConf, Iou, Imgsz, Letterbox, MaxDet, Classes, Nms, AgnosticNms),
    "Slicing": (Slice, SliceOverlap, SliceFull, SliceMerge, SliceMatch, SliceTiles, MaxDetImage),
    "Video and tracking": (VidStride, Start, End, StreamBuffer, TrackFlag, Tracker, CountLine),
    "Zones and heatmaps": (ZoneOpt, ZoneAnchor, Heatmap, HeatmapClasses),
    "Output": (
        Format,
        Json,
        Out,
        OutOrDir,
        Save,
        SaveCrop,
        Redact,
        RedactStyle,
        LineWidth,
        HideLabels,
        HideConf,
        HideBoxes,
        Show,
        Tables,
        SaveConf,
        ImageRoot,
        AttentionFlag,
        EvalSave,
        Worst,
        MatrixConf,
        MatrixIou,
        FalseAttention,
    ),
    "Resume and watch": (Resume, RetryFailed, Watch),
    "Ray": (EngineOpt, Address, Actors, GpusPerActor),
    "General": (Recursive, Config, Quiet, Verbose, ShowProgress),
}
for _panel, _types in PANELS.items():
    for _type in _types:
        _type.__metadata__[0].rich_help_panel = _panel


class GroupedCommand(TyperCommand):
    """A command whose --help lists its options under their panels (PANELS' order), in Click's plain
    layout (Rich's panels cut words at narrow widths); options of no panel come last, under "Options"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """With --config FILE: its command options (core/settings.RUN_OPTIONS: track, format, out, engine,
        ...) are the defaults of the flags not given, so every flag can come from the config."""
        plain_values.install(self.get_params(ctx))  # --help included
        path = _config_argument(args)
        if path is not None:
            from detect_cli.core.errors import AttnDetectError
            from detect_cli.core.settings import run_options

            try:
                given = run_options(Path(path))
            except AttnDetectError:
                given = {}  # the command reports it when it reads the config
            names = {param.name for param in self.params}
            defaults = {}
            for key, value in given.items():
                for name in CONFIG_NAMES.get(key, (key,)):
                    if name in names:
                        defaults[name] = value
            ctx.default_map = {**(ctx.default_map or {}), **defaults}
        return super().parse_args(ctx, args)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        groups: dict[str, list[tuple[str, str]]] = {panel: [] for panel in (*PANELS, "Options")}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                groups.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        for panel, records in groups.items():
            if records:
                with formatter.section(panel):
                    formatter.write_dl(records)


CONFIG_NAMES = {"format": ("fmt",), "out": ("out", "out_file"), "track": ("track",)}  # config key -> parameters


def _config_argument(args: list[str]) -> str | None:
    """The value of --config among a command's arguments, before they are parsed (the last one wins)."""
    found = None
    for n, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--config" and n + 1 < len(args):
            found = args[n + 1]
        elif arg.startswith("--config="):
            found = arg.split("=", 1)[1]
    return found
