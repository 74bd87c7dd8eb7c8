"""Open the model a run asks for, the same way from the CLI and from Python: find it, load it, pick
its runtime, and say at what size it will really run.

`open_model(settings)` is the one entry point: `detect_cli.open_model` from Python, and every command's
model under the CLI. What the user should hear (an export's notes, a resized imgsz, a runtime that
could not be used) comes back in `OpenedModel.notes`: the library prints nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from detect_cli.core.settings import DetectSettings
from detect_cli.inputs.images import ReadOptions
from detect_cli.models.detector import Detector, PredictOptions

if TYPE_CHECKING:
    from detect_cli.models.calibration import TruthLookup
    from detect_cli.models.check_images import CheckProvider
    from detect_cli.models.runtime_request import Int8Request


@dataclass(frozen=True)
class OpenedModel:
    """The model ready to run, the settings as they will run (imgsz resolved), and what to tell the user."""

    detector: Detector
    settings: DetectSettings
    notes: list[str] = field(default_factory=list)

    @property
    def options(self) -> PredictOptions:
        return predict_options(self.settings, self.detector)


def open_model(
    settings: DetectSettings,
    *,
    weights_dir: Path | str | None = None,
    trust_model: bool = False,
    iou_given: bool = False,
    needs_torch: str | None = None,
    verbose: bool = False,
    status: Callable[[str], None] | None = None,
    sources: Sequence[str] = (),
    truth: Callable[[dict[int, str]], TruthLookup] | None = None,
) -> OpenedModel:
    """Resolve `settings.model` (alias, weights folders: `weights_dir`, ATTN_DETECT_WEIGHTS_DIR, then
    the config's; then Ultralytics' download), load it with restricted unpickling unless
    `trust_model`, choose its runtime (`settings.backend`; auto: the fastest verified on this machine),
    and resolve imgsz (the model's own size unless given, rounded as Ultralytics rounds it).

    `needs_torch` names a feature only the PyTorch model has (attention hooks): no export then.
    `iou_given`: the user set --iou, so say when it has no effect. `status` hears what takes time.
    A first run checks the export on `sources` (the run's inputs: its first local images and video
    frames), on samples when it has none.
    `settings.precision` int8: the INT8 model, if it passes its gate; it is calibrated on
    `settings.calibration`, else on `sources` (the run's inputs), and `truth(names)` gives the
    labels of held-out images where the run has some (evaluate, compare)."""
    if not isinstance(settings, DetectSettings):
        raise TypeError(
            f"open_model(settings): expected DetectSettings (detect_cli.load_settings(...)), got "
            f"{type(settings).__name__}; detect_cli.Model(spec) opens a model by its name"
        )
    from detect_cli.models.detector import load_detector
    from detect_cli.models.known_models import open_known
    from detect_cli.models.lookup import resolve_model, weights_dirs

    ref = resolve_model(settings.model, weights_dirs(Path(weights_dir) if weights_dir else None, settings.weights_dir))
    args = {
        "device": "" if settings.device == "auto" else settings.device,
        "half": settings.half,
        "threads": settings.threads,
        "verbose": verbose,
        "trusted": trust_model,
    }
    detector = open_known(ref, **args) or load_detector(ref, **args)  # known to the cache: loaded only if needed
    say = {"iou_given": iou_given, "needs_torch": needs_torch, "status": status, "sources": sources, "truth": truth}
    opened = _at_its_size(detector, settings, **say)
    if opened.settings.imgsz != detector.run_imgsz(settings.imgsz)[0]:  # the cache's record of its size was wrong
        opened = _at_its_size(detector, settings, **say)  # (corrected when the checkpoint loaded): once more
    return opened


def _at_its_size(
    detector: Detector,
    settings: DetectSettings,
    *,
    iou_given: bool,
    needs_torch: str | None,
    status: Callable[[str], None] | None,
    sources: Sequence[str],
    truth: Callable[[dict[int, str]], TruthLookup] | None,
) -> OpenedModel:
    """`open_model` once `detector` is opened: its run size, its notes, its runtime."""
    from detect_cli.models.runtime import choose_backend

    notes = list(detector.notes)
    imgsz, resized = detector.run_imgsz(settings.imgsz)
    if resized:
        notes.append(resized)
    settings = replace(settings, imgsz=imgsz)
    options = predict_options(settings, detector)
    if not detector.runs_nms(options):
        why = "RT-DETR has no NMS" if detector.ref.family == "rtdetr" else "YOLO26 runs its NMS-free head (add --nms)"
        given = (["--iou"] if iou_given else []) + (["--agnostic-nms"] if settings.agnostic_nms else [])
        if given:
            notes.append(f"{' and '.join(given)} {'have' if len(given) > 1 else 'has'} no effect: {why}")
    wanted = settings.backend
    if needs_torch and wanted not in {"auto", "torch"} and detector.ref.kind != "exported":
        notes.append(f"--backend {wanted} ignored: {needs_torch} needs the PyTorch model")
    int8 = None
    if settings.precision == "int8" and needs_torch:
        notes.append(f"--precision int8 ignored: {needs_torch} needs the PyTorch model")
    elif settings.precision == "int8":
        int8 = _int8_request(detector, settings, sources, truth)
    if needs_torch:
        wanted = "torch"
    chosen, choice = choose_backend(
        detector,
        wanted,
        options,
        batch=settings.batch,
        threads=settings.threads,
        status=status or _silent,
        int8=int8,
        check=_check_images(settings, sources),
    )
    notes.extend(n for n in detector.notes if n not in notes)  # the cache's record of it corrected as it loaded
    notes.extend(choice.notes)  # a cache entry rebuilt, and why
    if choice.backend == "torch" and settings.backend not in {"auto", "torch"}:
        notes.append(f"running PyTorch instead of {settings.backend}: {choice.reason}")
    return OpenedModel(chosen, settings, notes)


def _int8_request(
    detector: Detector,
    settings: DetectSettings,
    sources: Sequence[str],
    truth: Callable[[dict[int, str]], TruthLookup] | None,
) -> Int8Request:
    """Where the INT8 model's calibration images come from, read only if it must be quantized."""
    from detect_cli.models.calibration import calibration_set, is_shapes_model, listing_digest
    from detect_cli.models.runtime_request import Int8Request

    explicit = settings.calibration is not None
    paths = [settings.calibration] if settings.calibration is not None else list(sources)
    lookup = None if explicit or truth is None else truth(detector.names)
    if explicit:
        key = f"dir:{os.path.abspath(str(settings.calibration))}"
    else:
        key = "scenes" if is_shapes_model(detector) else "run"
    options = read_options(settings)
    return Int8Request(
        lambda: calibration_set(
            detector, paths, read_options=options, explicit=explicit, truth=lookup, max_side=settings.imgsz
        ),
        key,
        (lambda: listing_digest(paths)) if explicit else None,
    )


def _check_images(settings: DetectSettings, sources: Sequence[str]) -> CheckProvider:
    """The run's first local images, read only if a first run checks an export (`check_images`)."""
    from detect_cli.models.check_images import check_images

    options = read_options(settings)
    return lambda detector: check_images(detector, sources, read_options=options, max_side=settings.imgsz)


def predict_options(settings: DetectSettings, detector: Detector) -> PredictOptions:
    """What every forward pass of this run takes: conf (per class too), iou, imgsz, max_det, class ids, NMS.
    A class name the model does not know is a ConfigError with the close matches (before any image runs)."""
    classes = detector.class_ids(settings.classes) if settings.classes else None
    class_conf = tuple(
        (detector.class_ids([name], flag="--conf")[0], value) for name, value in settings.class_thresholds().items()
    )
    imgsz, _ = detector.run_imgsz(settings.imgsz)
    return PredictOptions(
        settings.conf,
        settings.iou,
        imgsz,
        settings.max_det,
        classes,
        settings.nms,
        class_conf,
        settings.agnostic_nms,
        settings.letterbox,
    )


def read_options(settings: DetectSettings) -> ReadOptions:
    """How inputs are read: the pixel cap, and the URL timeout and size cap."""
    return ReadOptions(settings.max_pixels, settings.url_timeout, int(settings.url_max_mb * 2**20))


def _silent(_: str) -> None:
    pass
