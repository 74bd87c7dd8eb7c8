"""`attn-detect attention`: where the model looks, per detection, with a faithfulness check."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from detect_cli.cli import options as opt
from detect_cli.cli.common import open_detector, own_files, settings_from_flags
from detect_cli.cli.console import EXIT_CODES_HELP, exit_with, handle_errors, hold, note, set_output, warn
from detect_cli.cli.destination import Destination
from detect_cli.cli.progress import RunProgress, wanted

app = typer.Typer()

Method = Annotated[
    str,
    typer.Option(
        help="attention (the model's own), gradcam / layercam-det (gradients of the "
        "detection's own score), layercam (Ultralytics', per class), drise (black-box "
        "random masks; slow, works on exports), both (attention + layercam) or all."
    ),
]
Masks = Annotated[int, typer.Option(help="D-RISE: random masks per image (cost: one prediction each).")]
MapKind = Annotated[str, typer.Option("--map", help="RT-DETR attention: decoder (cross-attention) or encoder (AIFI).")]
Layer = Annotated[Optional[int], typer.Option(help="RT-DETR decoder layer (0 = first); default: all layers.")]
Raw = Annotated[bool, typer.Option(help="Also save each map as .npy (float32, original image size).")]
Check = Annotated[
    bool,
    typer.Option(
        help="Faithfulness per map and a random map: deletion and insertion AUC, "
        "mass in box, pointing game, with 95% intervals."
    ),
]


@app.command(epilog=EXIT_CODES_HELP, cls=opt.GroupedCommand)
@handle_errors
def attention(
    sources: opt.Sources,
    model: opt.Model = None,
    save: opt.Save = None,
    method: Method = "attention",
    layer: Layer = None,
    masks: Masks = 1000,
    attention_map: MapKind = "decoder",
    raw: Raw = False,
    check: Check = False,
    weights_dir: opt.WeightsDir = None,
    trust_model: opt.TrustModel = False,
    conf: opt.Conf = None,
    iou: opt.Iou = None,
    imgsz: opt.Imgsz = None,
    max_det: opt.MaxDet = None,
    max_det_image: opt.MaxDetImage = None,
    device: opt.Device = None,
    classes: opt.Classes = None,
    nms: opt.Nms = None,
    letterbox: opt.Letterbox = None,
    threads: opt.Threads = None,
    recursive: opt.Recursive = None,
    vid_stride: opt.VidStride = None,
    start: opt.Start = None,
    end: opt.End = None,
    slice_: opt.Slice = None,
    slice_overlap: opt.SliceOverlap = None,
    slice_full: opt.SliceFull = None,
    slice_merge: opt.SliceMerge = None,
    slice_match: opt.SliceMatch = None,
    fmt: opt.Format = None,
    as_json: opt.Json = False,
    out_file: opt.Out = None,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    config: opt.Config = None,
    progress: opt.ShowProgress = None,
) -> None:
    """Show where the model looks: one heatmap per image and one per detection (box drawn); for a video,
    figures per frame and an overlay video."""
    from detect_cli.attention.records import attention_layout
    from detect_cli.attention.run import check_method, map_names
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.inputs.video import VideoOptions
    from detect_cli.models.open import predict_options, read_options
    from detect_cli.outputs.guards import check_folder
    from detect_cli.pipeline.slicing import SlicedDetector, slice_options
    from detect_cli.tasks.attention import AttentionJob, AttentionSettings, check_explainable, check_slicing
    from detect_cli.tasks.driver import drive

    set_output(quiet=quiet, verbose=verbose)
    check_method(method, attention_map)
    destination = Destination.from_flags(fmt.value if fmt else None, as_json, out_file)
    check_folder(save)
    settings = settings_from_flags(
        config,
        model=model,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        max_det=max_det,
        device=device,
        classes=classes,
        nms=nms,
        letterbox=letterbox.value if letterbox else None,
        threads=threads,
        recursive=recursive,
        **opt.slice_flags(slice_, slice_overlap, slice_full, slice_merge, slice_match, max_det_image=max_det_image),
    )
    check_slicing(settings.slice is not None, method, check)
    destination.claim(sources, save, recursive=settings.recursive, keep=own_files(config, settings.model))
    bar = hold(RunProgress(wanted(progress, quiet=quiet)))
    video = VideoOptions(stride=vid_stride or 1, start_s=start or 0.0, end_s=end)
    bar.count(sources, recursive=settings.recursive, video=video)
    bar.loading(settings.model)
    settings, detector = open_detector(
        settings,
        weights_dir=weights_dir,
        verbose=verbose,
        iou_given=iou is not None,
        trust_model=trust_model,
        needs_torch=None if method == "drise" else "attention maps",
        status=bar.status,
    )
    check_explainable(detector, method, layer)
    if layer is not None and detector.ref.family == "yolo":
        warn("--layer has no effect: YOLO26 has one attention block (C2PSA)")
    slicing = slice_options(settings)
    job = AttentionJob(
        detector,
        predict_options(settings, detector),
        AttentionSettings(method, layer, check, save, raw, attention_map, masks),
        read_options(settings),
        sliced=SlicedDetector(detector, slicing, settings.batch) if slicing else None,
        video=video,
    )
    methods = tuple(map_names(method, detector.ref.family, attention_map))
    sink = destination.open(
        attention_layout(methods),
        {"command": "attention", "model": detector.ref.spec, "family": detector.ref.family, "method": method},
    )
    tables = destination.tables(quiet) if destination.tables_are_results else None
    images, videos_seen, video_tables = [], set(), _VideoTables()

    def heard(record: dict) -> None:
        if save is not None and (record.get("frame") is None or record["source"] not in videos_seen):
            images.append(record)  # for index.html: stills, and a video's first frame (its overlay video)
            videos_seen.add(record["source"])
        if record["status"] == "error":
            warn(f"{record['source']}: {record['error']}")
        if tables is not None:
            for table in video_tables.add(record):
                tables.print(table)
            if record.get("frame") is None and record["maps"] is not None:
                tables.print(_image_table(record))
        bar.advance()

    bar.start("explaining")
    outcome = drive(
        job,
        iter_sources(sources, recursive=settings.recursive, stdin=sys.stdin),
        [sink] if sink is not None else [],
        heard,
    )
    if tables is not None:
        for table in video_tables.close():
            tables.print(table)
    faithfulness = outcome.summary["faithfulness"]
    if job.caps.bit:
        note(job.caps.advice())
    console = destination.tables(quiet)
    if faithfulness and console is not None:
        console.print(_faithfulness_table(faithfulness))
    if save is not None:
        from detect_cli.outputs.report import attention_page

        try:
            page = attention_page(save, images, model=detector.ref.spec, faithfulness=faithfulness)
            note(f"overlays and {page.name} written to {save}")
        except OSError as exc:
            warn(f"overlays written to {save}, but not its index.html: {exc}")
    exit_with(outcome)


def _image_table(record: dict) -> Table:
    detections = record["detections"]
    methods = [k for k, v in detections[0].items() if isinstance(v, dict) and "peak_xy" in v] if detections else []
    title = f"{record['source']}: {len(detections)} detection(s), {record['maps']}"
    table = Table(title=Text(title), title_justify="left", min_width=len(title))  # the title unwrapped
    table.add_column("#", justify="right")
    table.add_column("class")
    table.add_column("conf", justify="right")
    for method in methods:
        table.add_column(f"{method} peak (x, y)", justify="right")
        table.add_column(f"{method} mass in box", justify="right")
    for j, det in enumerate(detections):
        cells = [str(j), Text(det["class_name"]), f"{det['confidence']:.2f}"]
        for method in methods:
            x, y = det[method]["peak_xy"]
            cells += [f"{x:.0f}, {y:.0f}", f"{det[method]['mass_in_box']:.2f}"]
        table.add_row(*cells)
    return table


class _VideoTables:
    """A video's frames make one table, printed when the video ends: per class the detections, their
    mean confidence and each map's mean mass in box (a table per frame would bury the terminal).
    Kept as running sums per class, so an hour of video costs no more memory than a minute."""

    def __init__(self) -> None:
        self.source: str | None = None
        self.frames, self.methods = 0, []
        self.counts: Counter[str] = Counter()  # detections per class
        self.sums: dict[str, list[float]] = {}  # class -> [sum of conf, sum of mass in box per method]

    def add(self, record: dict) -> list[Table]:
        done = self.close() if record.get("frame") is None or record["source"] != self.source else []
        if record.get("frame") is not None:
            self.source = record["source"]
            self.frames += 1
            for det in record["detections"] if record["maps"] is not None else []:
                if not self.methods:
                    self.methods = [k for k, v in det.items() if isinstance(v, dict) and "peak_xy" in v]
                values = [det["confidence"], *(det[m]["mass_in_box"] for m in self.methods)]
                totals = self.sums.setdefault(det["class_name"], [0.0] * len(values))
                totals[:] = [t + v for t, v in zip(totals, values)]
                self.counts[det["class_name"]] += 1
        return done

    def close(self) -> list[Table]:
        if self.source is None:
            return []
        title = f"{self.source}: {self.frames} frame(s), {self.counts.total()} detection(s)"
        table = Table(title=Text(title), title_justify="left", min_width=len(title))  # the title unwrapped
        for header in ("class", "detections", "mean conf", *(f"{m} mass in box" for m in self.methods)):
            table.add_column(header, justify="left" if header == "class" else "right")
        for name, sums in sorted(self.sums.items()):
            n = self.counts[name]
            table.add_row(Text(name), str(n), *(f"{v / n:.2f}" for v in sums))
        self.source, self.frames, self.methods, self.counts, self.sums = None, 0, [], Counter(), {}
        return [table]


def _faithfulness_table(rows: list[dict]) -> Table:
    title = (
        "Faithfulness per detection: mean [95% interval]. Deletion AUC (lower is better) and insertion AUC "
        "(higher): the detection's confidence as the map's top pixels are blurred / revealed; mass in box; "
        "pointing game (peak in box)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("map")
    table.add_column("n", justify="right")
    for header in ("deletion AUC", "insertion AUC", "mass in box", "pointing"):
        table.add_column(header, justify="right")
    for row in rows:
        cells = [row["method"], str(row["n"])]
        for metric in ("deletion_auc", "insertion_auc", "ebpg", "pointing"):
            low, high = row[f"{metric}_ci95"]
            cells.append(f"{row[metric]:.3f} [{low:.3f}, {high:.3f}]")
        table.add_row(*cells)
    return table
