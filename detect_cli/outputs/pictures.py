"""What a result's picture becomes, from the run's settings: the boxes drawn (--line-width, --hide-labels,
--hide-conf, --hide-boxes), the classes hidden (--redact, --redact-style), the crops (--save-crop) and
the window (--show).

Redaction is the last step on a picture, over what was drawn too, so that outside the redacted boxes the
picture is exactly the one a run without --redact saves, and inside them nothing of the image is left.
Crops are cut from the original pixels with the redacted boxes hidden (a box that overlaps a redacted
one leaks none of it); a redacted box gives no crop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.core.settings import DetectSettings
from detect_cli.outputs.annotate import BoxAnnotator
from detect_cli.outputs.crops import CropSaver
from detect_cli.outputs.redact import Redactor
from detect_cli.outputs.window import Window, display_problem

REDACTED = "redacted"  # the per-box field (Detections.extra, and each detection's record) with --redact


@dataclass
class Pictures:
    annotator: BoxAnnotator = field(default_factory=BoxAnnotator)
    redact: frozenset[int] | None = None  # class ids hidden in every picture
    redactor: Redactor = field(default_factory=Redactor)
    boxes: bool = True  # False: --hide-boxes, pictures without boxes or labels (redacted still)
    crops: CropSaver | None = None
    window: Window | None = None

    @classmethod
    def from_settings(
        cls, settings: DetectSettings, class_ids: Callable[..., tuple[int, ...]], window: Window | None = None
    ) -> Pictures:
        """`class_ids(names, flag=...)` maps --redact's names to the model's ids (a ConfigError with the
        close matches for one it does not know: `Detector.class_ids`)."""
        return cls(
            BoxAnnotator(settings.line_width, labels=not settings.hide_labels, conf=not settings.hide_conf),
            frozenset(class_ids(settings.redact, flag="--redact")) if settings.redact else None,
            Redactor(settings.redact_style),
            not settings.hide_boxes,
            CropSaver(Path(settings.save_crop)) if settings.save_crop else None,
            window if window is not None else Window() if settings.show else None,
        )

    def mark(self, result: ImageResult) -> ImageResult:
        """With --redact: each box says whether it is hidden (`extra['redacted']`)."""
        if self.redact is None or not result.ok:
            return result
        hidden = np.isin(result.detections.class_id, list(self.redact))
        return replace(result, detections=result.detections.with_extra(**{REDACTED: hidden}))

    def hidden(self, result: ImageResult) -> np.ndarray:
        mask = result.detections.extra.get(REDACTED)
        return np.zeros(len(result.detections), bool) if mask is None else np.asarray(mask, bool)

    def draw(
        self, image: np.ndarray, result: ImageResult, decorate: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """The picture to save or show: boxes and labels (unless hidden), `decorate` (zones, a count line),
        then the redacted boxes hidden."""
        picture = self.annotator.annotate(image, result.detections, result.names) if self.boxes else image.copy()
        if decorate is not None:
            picture = decorate(picture)
        return self.conceal(picture, result)

    def conceal(self, picture: np.ndarray, result: ImageResult) -> np.ndarray:
        hidden = self.hidden(result)
        return self.redactor.apply(picture, result.detections.xyxy[hidden]) if hidden.any() else picture

    def save_crops(self, image: np.ndarray, result: ImageResult) -> list[Path]:
        if self.crops is None:
            return []
        hidden = self.hidden(result)
        source = self.conceal(image, result) if hidden.any() else image
        return self.crops.save(result, source, skip=hidden)

    @property
    def needs_pixels(self) -> bool:
        """Whether results need their image here even without --save (crops, a window)."""
        return self.crops is not None or self.window is not None


def check_pictures(settings: DetectSettings, save_dir: Path | None) -> None:
    """Refuse what cannot work, before any model loads: --redact in a run that makes no picture, --show
    where no window can open, --save-crop on a file."""
    if settings.redact and save_dir is None and not settings.show and not settings.save_crop:
        raise ConfigError(
            "--redact hides boxes in the pictures a run saves or shows, and this run makes none",
            "add --save DIR (images and videos), --show, or --save-crop DIR",
        )
    if settings.show and (problem := display_problem()):
        raise ConfigError(f"--show: {problem}")
    crops = Path(settings.save_crop) if settings.save_crop else None
    if crops is not None and crops.exists() and not crops.is_dir():
        raise ConfigError(f"--save-crop {crops}: exists and is not a folder", "pass a folder path")
