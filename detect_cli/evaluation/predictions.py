"""What evaluation keeps of each detected image: its name (to find its labels), size and boxes, no pixels."""

from __future__ import annotations

from dataclasses import dataclass

from detect_cli.core.detections import Detections
from detect_cli.core.results import ImageResult


@dataclass(frozen=True)
class Prediction:
    """What evaluation keeps of an `ImageResult` (no pixels)."""

    name: str
    source: str
    width: int
    height: int
    detections: Detections

    @classmethod
    def from_result(cls, result: ImageResult) -> Prediction:
        name = result.name or result.source
        return cls(name, result.source, result.width or 0, result.height or 0, result.detections)
