"""The engine with a source that waits (--watch): what it holds runs at `IDLE`, not when a batch fills."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.inputs.sources import IDLE, Source
from detect_cli.models.detector import PredictOptions
from detect_cli.pipeline.engine import detect_stream
from tests.helpers import write_jpeg


class CountingDetector:
    def __init__(self) -> None:
        self.names = {0: "thing"}
        self.batches: list[int] = []

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        self.batches.append(len(images))
        return [(Detections.empty(), Timing()) for _ in images]


def test_held_images_run_at_idle_and_a_burst_runs_as_batches(tmp_path: Path) -> None:
    files = [write_jpeg(tmp_path / f"{i}.jpg", seed=i) for i in range(7)]
    more = threading.Event()
    seen: list[int] = []

    def sources() -> Iterator[Source]:
        yield Source(str(files[0]), "0.jpg")
        yield IDLE  # nothing more for now: the one image must not wait for a batch of 4
        assert more.wait(10), "the first result never came while the source waited"
        for f in files[1:]:  # a burst: arrived while the model ran
            yield Source(str(f), f.name)
        yield IDLE

    detector = CountingDetector()
    for result in detect_stream(sources(), detector, PredictOptions(imgsz=64), batch=4):
        seen.append(result.index)
        more.set()
    assert seen == list(range(7))  # IDLE takes no index and gives no record
    assert detector.batches == [1, 4, 2]
