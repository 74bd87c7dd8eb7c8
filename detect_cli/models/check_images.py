"""The images a first run checks an export on: the run's own, read ahead.

A model is checked on the pictures it is about to run on: the run's first local images and frames of
its local videos (read ahead as `--precision int8` reads its calibration images; never stdin, URLs or
streams, which a second read would consume or change). Only a run that has none (`export`, a stream,
stdin) falls back to samples: generated scenes for the demo models, Ultralytics' bus and zidane photos
for any other model. A refusal lasts (is cached) only where the images were the run's own or of the
model's own kind: a model trained on helmets is not judged for good on a photo of a bus.

An export runs at a square input (its letterbox pads a 16:9 picture to a square), where Ultralytics'
PyTorch predictor pads only to the next stride multiple: the same picture would reach the two at
different shapes and the check would compare two letterboxes, not two runtimes (F1 0.87 on 2:1
pictures for the demo weights). So each check image is first padded to a square as the export's
letterbox pads it (centred, grey 114): both runtimes then see the same pixels at the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from detect_cli.inputs.images import ReadOptions
    from detect_cli.models.detector import Detector

CHECK_IMAGES = 8  # images read ahead for the check: enough boxes to compare, little time to spend


@dataclass(frozen=True)
class CheckImages:
    images: list[np.ndarray]
    source: str  # what they are, for the reason shown: "8 of the run's images"
    own: bool  # the run's own images, or scenes of the demo models' own kind: a refusal on them is cached


# what a run hands the first-run check: its images, read only if a check is needed
CheckProvider = Callable[["Detector"], CheckImages]


def check_images(
    detector: Detector,
    sources: Sequence[str] = (),
    *,
    read_options: ReadOptions | None = None,
    max_side: int | None = None,
    limit: int = CHECK_IMAGES,
) -> CheckImages:
    """The run's first `limit` local images (shrunk to `max_side`, the network's input), else samples."""
    from detect_cli.models.calibration import read_local

    own = [square(image) for _, image in read_local(list(sources), limit, read_options, max_side)] if sources else []
    if own:
        return CheckImages(own, f"{len(own)} of the run's images", True)
    return sample_images(detector)


def square(image: np.ndarray) -> np.ndarray:
    """The picture padded to a square, centred on grey 114 as Ultralytics' LetterBox pads. Still needed
    with the rect letterbox: ONNX Runtime's export (and any static one) runs only at its square, and the
    PyTorch boxes it is checked against are taken once, before any export, for every runtime tried."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = np.full((side, side, *image.shape[2:]), 114, dtype=image.dtype)
    out[top : top + h, left : left + w] = image
    return out


def sample_images(detector: Detector) -> CheckImages:
    """For a run with no local images: scenes for the demo models, Ultralytics' two photos otherwise."""
    from detect_cli.models.calibration import is_shapes_model

    if is_shapes_model(detector):
        from detect_cli.demo.scenes import make_scene

        scenes = [make_scene(np.random.default_rng([99, i]))[0] for i in range(CHECK_IMAGES)]
        return CheckImages(scenes, f"{len(scenes)} generated scenes", True)
    from ultralytics.utils import ASSETS

    from detect_cli.inputs.images import read_image
    from detect_cli.inputs.sources import iter_sources

    photos = [square(read_image(s)) for s in iter_sources([str(ASSETS / "bus.jpg"), str(ASSETS / "zidane.jpg")])]
    return CheckImages(photos, "Ultralytics' bus and zidane photos", False)
