"""`detect --attention`: one hooked pass gives both the detections and the maps.

`ExplainingDetector` stands in for the `Detector` in the engine. Its `predict` runs the batch as
one hooked prediction (`run.explain_images`) and returns that prediction's detections: the same
as `Detector.predict` gives for the same batch, since the hooks only read. Each image's maps travel
with its detections (`Detections.metadata["attention"]`) to the job, which `judge`s them before
writing the overlays. An image whose maps cannot be made keeps its detections and the reason; when
the reason is not the image's (the same failure on several images in a row, or on a blank image
too: `failures.FailureWatch`), `judge` stops the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detect_cli.attention.run import ImageAttention, explain_image, explain_images
from detect_cli.core.detections import Detections
from detect_cli.core.errors import AttnDetectError
from detect_cli.core.results import Timing
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.pipeline.failures import FailureWatch, blank_image
from detect_cli.pipeline.slicing import SlicedDetector


class ExplainingDetector:
    """A `Detector` whose predictions also make attention maps, carried in their detections' metadata."""

    def __init__(self, detector: Detector, sliced: SlicedDetector | None = None) -> None:
        self.detector = detector
        self.sliced = sliced  # --slice: each detection's map from the tile that found it (attention/sliced.py)
        self.names = detector.names
        self._options = PredictOptions()
        self._watch = FailureWatch(
            lambda: explain_image(self.detector, blank_image(self._options.imgsz), self._options)
        )

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        self._options = options
        try:
            hooked: list[Any] = (
                explain_images(self.detector, images, options)
                if self.sliced is None
                else [self._explain_sliced(image, options) for image in images]
            )
        except AttnDetectError:
            raise  # says what it is (an export, no attention block): not about these images
        except Exception as exc:  # the hooked pass failed: a plain one says whether the model or the images did
            hooked = [(*output, exc) for output in self.detector.predict(images, options)]
        return [(detections.with_metadata(attention=explained), timing) for detections, timing, explained in hooked]

    def _explain_sliced(self, image: np.ndarray, options: PredictOptions) -> tuple[Detections, Timing, Any]:
        from detect_cli.attention.sliced import explain_sliced

        explained, timing = explain_sliced(self.sliced, image, options)  # type: ignore[arg-type]
        return explained.detections, timing, explained

    def judge(self, detections: Detections, image: np.ndarray, source: str) -> ImageAttention | str:
        """The maps made with these detections (made now if they came without), or why there are none
        (one line). Raises `ModelFailed` when the maps failed for a reason that is not the image's."""
        explained = detections.metadata.get("attention")
        if explained is None:  # predicted elsewhere (a stand-in model): make them now
            try:
                explained = (
                    explain_image(self.detector, image, self._options)
                    if self.sliced is None
                    else self._explain_sliced(image, self._options)[2]
                )
            except Exception as exc:
                explained = exc
        if isinstance(explained, Exception):
            return self._watch.failed(explained, source)
        self._watch.ok()
        return explained
