"""The images an INT8 model is calibrated on, and the other images its accuracy gate scores.

Calibration needs images of the kind the run will see: `--calibration DIR` when given, else the
run's own inputs (local image files and frames of local videos: never stdin, URLs or streams,
which a second read would consume or change), else, for the demo models, generated scenes with
their labels. One set of images is split into two that never share an image: every fourth
image (spread over the set, not its tail) is held out for the gate, the rest calibrate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError, one_line

if TYPE_CHECKING:
    from detect_cli.inputs.images import ReadOptions
    from detect_cli.models.detector import Detector

CALIBRATE_MAX = 300  # NNCF's own default subset size
HELD_OUT_MAX = 100
MIN_CALIBRATE, MIN_HELD_OUT = 30, 10  # fewer proves nothing either way
EVERY = 4  # one image in EVERY is held out
VIDEO_FRAMES_APART = 10  # frames of a video this far apart are taken (neighbours are near copies)
SCENE_SEEDS = (7, 8)  # calibration scenes, held-out scenes: never the seeds export checks or training used
SHAPES = {"circle", "square", "triangle", "star", "ring"}


# the labels of an image by its name (as the run names it), width and height; None: not labelled
TruthLookup = Callable[[str, int, int], "Detections | None"]


class TooFewImages(ConfigError):
    """Not enough images to calibrate on and check: the run stays FP32; `export --int8` stops (exit 2,
    the message names the option that gave the images and says what to pass)."""


@dataclass(frozen=True)
class CalibrationSet:
    images: list[np.ndarray]  # calibrated on
    held_out: list[np.ndarray]  # scored by the gate, never calibrated on
    truth: list[Detections | None] | None  # the held-out images' labels, where known (None: none known)
    source: str  # what they are, for the decision and the run table
    passed_over: tuple[str, ...] = ()  # for the user: images of --calibration that could not be used, and why


def is_shapes_model(detector: Detector) -> bool:
    """A model of the generated shapes (the demo models): their scenes are images of its kind."""
    return set(detector.names.values()) <= SHAPES


def split(count: int) -> tuple[list[int], list[int]]:
    """Indices to calibrate on and to hold out, of `count` images: every EVERY-th held out."""
    held = [i for i in range(count) if i % EVERY == EVERY - 1][:HELD_OUT_MAX]
    taken = set(held)
    calibrate = [i for i in range(count) if i not in taken][:CALIBRATE_MAX]
    return calibrate, held


def calibration_set(
    detector: Detector,
    paths: Sequence[str] = (),
    *,
    read_options: ReadOptions | None = None,
    explicit: bool = False,
    truth: TruthLookup | None = None,
    max_side: int | None = None,
    where: str | None = None,
) -> CalibrationSet:
    """The calibration and held-out images for `detector`: from `paths` (the --calibration folder
    when `explicit`, else the run's inputs), or generated scenes for a demo model given no folder.
    `truth` finds a held-out image's labels (evaluate and compare --labels). Each image is shrunk to
    `max_side` (the network's input) as it is read, and only the shrunk copy is kept, its labels
    scaled with it: memory is bounded by the set's size at network resolution (400 photos of 12 MP
    would otherwise hold 14 GB). `where` names the option that gave the paths in messages (default
    --calibration when `explicit`). Raises TooFewImages when there are not enough."""
    if is_shapes_model(detector) and not explicit:  # scenes carry their own labels
        return demo_scenes()
    where = where or ("--calibration" if explicit else "the run's inputs")
    limit = (CALIBRATE_MAX + HELD_OUT_MAX) * EVERY // (EVERY - 1) + 1
    named: list[tuple[str, tuple[int, int], np.ndarray]] = []  # (name, its own width and height, shrunk)
    passed_over: list[str] = []
    for name, image in _read(paths, limit, read_options, passed_over if explicit else None):
        named.append((name, (image.shape[1], image.shape[0]), _shrink(image, max_side)))
        del image  # the full-size copy goes now, not with the next one
    images = [small for _, _, small in named]
    calibrate, held = split(len(images))
    if len(calibrate) < MIN_CALIBRATE or len(held) < MIN_HELD_OUT:
        raise TooFewImages(*too_few(where, len(images), explicit))
    source = f"{len(calibrate)} images of {where}, {len(held)} held out"
    labels = None
    if truth is not None:
        labels = [_scaled(truth(name, *size), size, small) for name, size, small in (named[i] for i in held)]
        labels = labels if any(t is not None for t in labels) else None
    notes = _passed_over_notes(where, passed_over)
    return CalibrationSet([images[i] for i in calibrate], [images[i] for i in held], labels, source, notes)


def too_few(where: str, found: int, explicit: bool) -> tuple[str, str]:
    """The message and hint of TooFewImages."""
    need = MIN_CALIBRATE + MIN_HELD_OUT
    hint = f"add readable images to {where}" if explicit else "pass --calibration DIR with images like the run's"
    return f"INT8 needs at least {need} images to calibrate on and check; {where} gave {found}", hint


def check_enough(paths: Sequence[str], where: str) -> None:
    """Refuse (TooFewImages) a calibration source that cannot hold enough images, before anything is
    decoded or exported: its local image files are counted by name (a video counts as enough)."""
    from detect_cli.inputs.sources import is_stream, is_video, iter_sources

    need, found = MIN_CALIBRATE + MIN_HELD_OUT, 0
    for source in iter_sources([p for p in paths if p != "-" and not is_stream(p)]):
        if source.error or source.is_url:
            continue
        if is_video(source.ref):
            return
        found += 1
        if found >= need:
            return
    raise TooFewImages(*too_few(where, found, True))


def listing_digest(paths: Sequence[str], most: int = 10_000) -> str:
    """What a calibration source holds now, cheaply: a digest of its first `most` files' names, sizes
    and modification times (nothing decoded). A cached INT8 refusal records it (int8_trial)."""
    import hashlib
    import json
    import os

    from detect_cli.inputs.sources import is_stream, iter_sources

    digest = hashlib.sha256()
    for n, source in enumerate(iter_sources([p for p in paths if p != "-" and not is_stream(p)])):
        if n >= most:
            break
        try:
            info = os.stat(source.ref)
            facts = [source.ref, info.st_size, info.st_mtime_ns]
        except OSError as exc:
            facts = [source.ref, source.error or exc.strerror]
        digest.update(json.dumps(facts).encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


def _passed_over_notes(where: str, passed_over: list[str], named: int = 3) -> tuple[str, ...]:
    if not passed_over:
        return ()
    more = f" (and {len(passed_over) - named} more)" if len(passed_over) > named else ""
    return (f"{where}: passed over {'; '.join(passed_over[:named])}{more}",)


def _shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image
    r = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * r)), max(1, round(h * r))), interpolation=cv2.INTER_AREA)


def _scaled(labels: Detections | None, size: tuple[int, int], small: np.ndarray) -> Detections | None:
    """Labels of an image of `size` (width, height), in the pixels of its shrunk copy."""
    if labels is None or (small.shape[1], small.shape[0]) == size:
        return labels
    sy, sx = small.shape[0] / size[1], small.shape[1] / size[0]
    xyxy = labels.xyxy * np.array([sx, sy, sx, sy], dtype=np.float32)
    return Detections(xyxy, labels.confidence, labels.class_id)


def demo_scenes(calibrate: int = CALIBRATE_MAX, held_out: int = 2 * HELD_OUT_MAX) -> CalibrationSet:
    """Generated shapes scenes (the demo models' kind), the held-out ones with their labels."""
    from detect_cli.demo.scenes import make_scene

    seed_cal, seed_held = SCENE_SEEDS
    images = [make_scene(np.random.default_rng([seed_cal, i]))[0] for i in range(calibrate)]
    held, truth = [], []
    for i in range(held_out):
        image, labels = make_scene(np.random.default_rng([seed_held, i]))
        held.append(image)
        boxes = np.array([box[1:] for box in labels], dtype=np.float32).reshape(-1, 4)
        classes = np.array([box[0] for box in labels], dtype=np.int64)
        truth.append(Detections(boxes, np.ones(len(labels), dtype=np.float32), classes))
    return CalibrationSet(images, held, truth, f"{calibrate} generated scenes, {held_out} more held out")


def _read(
    paths: Sequence[str], limit: int, read_options: ReadOptions | None, passed_over: list[str] | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """Up to `limit` (name, image) from local files and videos; unreadable ones (over max_pixels among
    them) are passed over: named in `passed_over` when given, else left for the run to report."""
    from detect_cli.inputs.images import ReadOptions, read_image
    from detect_cli.inputs.sources import is_stream, is_video, iter_sources

    options = read_options or ReadOptions()
    local = [p for p in paths if p != "-" and not is_stream(p)]
    taken = 0
    for source in iter_sources(local):
        if taken >= limit:
            return
        if source.error or source.is_url:
            continue
        if is_video(source.ref):
            for frame in _frames(source, limit - taken, options):
                taken += 1
                yield f"{source.name} (a frame)", frame
            continue
        try:
            image = read_image(source, options)
        except Exception as exc:  # passed over: named for the user, or reported by the run itself
            if passed_over is not None:
                passed_over.append(f"{source.name}: {one_line(exc, first=True)}")
            continue
        taken += 1
        yield source.name, image


def _frames(source, limit: int, options: ReadOptions) -> Iterator[np.ndarray]:
    from detect_cli.inputs.video import VideoOptions, read_frames

    frames = read_frames(source, VideoOptions(stride=VIDEO_FRAMES_APART), max_pixels=options.max_pixels)
    for n, frame in enumerate(frames):
        if n >= limit or frame.pixels is None:
            return
        yield frame.pixels


def dataset_images(data_yaml: str) -> list[str]:
    """The image folders an Ultralytics dataset YAML names (its `val`, else `train`, under `path`),
    for `export --int8 --data`. The YAML is read as any config is: bounded, and no tags run."""
    import yaml

    from detect_cli.core.bounded_yaml import load_bounded
    from detect_cli.core.guarded_read import UnreadableFile, read_text

    try:
        data = load_bounded(read_text(data_yaml, 1 << 20))
    except (UnreadableFile, yaml.YAMLError) as exc:
        why = str(exc).splitlines()[0]
        raise ConfigError(f"--data {data_yaml}: {why}", "give an Ultralytics dataset YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--data {data_yaml}: not a mapping", "give an Ultralytics dataset YAML")
    base = Path(data_yaml).parent
    root = data.get("path")
    root = base / root if isinstance(root, str) else base
    split = data.get("val") or data.get("train")
    folders = [split] if isinstance(split, str) else split if isinstance(split, list) else []
    paths = [str(root / f) for f in folders if isinstance(f, str)]
    if not paths:
        raise ConfigError(f"--data {data_yaml}: names no val or train images", "or pass --calibration DIR")
    return paths


def read_local(
    paths: Sequence[str], limit: int, read_options: ReadOptions | None = None, max_side: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """Up to `limit` (name, image) read ahead from the run's local files and frames of local videos
    (never stdin, URLs or streams), shrunk to `max_side` as calibration keeps them."""
    return [(name, _shrink(image, max_side)) for name, image in _read(paths, limit, read_options)]
