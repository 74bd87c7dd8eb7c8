"""What one input produced (`ImageResult`) and how long each stage took (`Timing`).

The records every sink writes are made from these in `outputs/records.py`; the run's totals are
`pipeline/run_summary.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import PurePosixPath

import numpy as np

from detect_cli.core.detections import Detections

__all__ = ["STAGES", "ImageResult", "Timing", "Unsaved", "sequence_key"]
STAGES = ("read", "preprocess", "inference", "postprocess")


@dataclass(frozen=True)
class Timing:
    """Milliseconds spent on one image in each stage."""

    read: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {s: round(getattr(self, s), 3) for s in STAGES}


class Unsaved(str, Enum):
    """A file an input should have produced and did not (its detections are kept): the run is
    incomplete (exit 3). The value starts the warning that says so."""

    ANNOTATED = "annotated image not saved"
    OVERLAYS = "attention overlays not saved"
    CROPS = "crops not saved"  # --save-crop: one of the image's crops could not be written
    HEATMAP = "heatmap not saved"  # --heatmap DIR: a sequence's map (the source is the sequence)


@dataclass(frozen=True)
class ImageResult:
    """What one input produced: detections, or an error message."""

    source: str
    index: int
    detections: Detections = field(default_factory=Detections.empty)
    names: dict[int, str] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    timing: Timing = field(default_factory=Timing)
    error: str | None = None
    name: str = ""  # relative name for saved files (mirrors the input's place under its folder)
    image: np.ndarray | None = field(default=None, repr=False, compare=False)  # decoded pixels, for annotators
    warnings: tuple[str, ...] = ()  # the input was processed, but something about it needs saying
    unsaved: tuple[tuple[Unsaved, str], ...] = ()  # (what, why) for each output not written
    frame: int | None = None  # a video's frame number (0-based, in the file); None for a still image
    time_s: float | None = None  # that frame's time in the video (for a stream: since it was opened)
    frames_skipped: int = 0  # a live stream's frames dropped just before this one, to keep up with it

    @property
    def ok(self) -> bool:
        return self.error is None

    def class_name(self, class_id: int) -> str:
        return self.names.get(class_id, str(class_id))

    def all_warnings(self) -> tuple[str, ...]:
        """Every warning as the records word it: notes, then what was not saved and why."""
        return (*self.warnings, *(f"{kind.value}: {why}" for kind, why in self.unsaved))

    def not_saved(self, kind: Unsaved, why: str) -> ImageResult:
        return replace(self, unsaved=(*self.unsaved, (kind, why)))


def sequence_key(result: ImageResult) -> str:
    """A video's frames are one sequence; so are the stills of one folder (frames on disk)."""
    if result.frame is not None:
        return result.source
    return str(PurePosixPath(result.source.replace("\\", "/")).parent)
