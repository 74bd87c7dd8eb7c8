"""One model's runtime choice as one value: this model, these options, this run's batch and threads,
who hears what takes time, the images a first run checks on, what `--precision int8` needs, and the
digest memo of the cache it reads. Every step of the choice (`runtime`, `runtime_trial`, `int8_trial`)
takes it whole instead of passing the same six arguments along.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from detect_cli.models.cache_files import DigestMemo
from detect_cli.models.check_images import CheckProvider, sample_images
from detect_cli.models.runtime_cache import cache_key, cache_root

if TYPE_CHECKING:
    from detect_cli.models.calibration import CalibrationSet
    from detect_cli.models.detector import Detector, PredictOptions


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class Int8Request:
    """What `--precision int8` needs: the images to calibrate on (read only when quantizing) and
    what they are, as a cache key part ("scenes", "run", or "dir:<absolute path>")."""

    calibration: Callable[[], CalibrationSet]
    key: str
    # what the calibration source holds now (a digest of its files' names, sizes and times), for a
    # --calibration folder: a refusal it no longer holds is decided again (None: not checked)
    seen: Callable[[], str] | None = None


@dataclass(frozen=True, kw_only=True)
class RuntimeRequest:
    detector: Detector  # the user's model (PyTorch, or opened from what the cache knows of it)
    options: PredictOptions
    batch: int = 1
    threads: int = 0  # 0: each runtime's default (torch leaves a core free; OpenVINO takes every core)
    say: Callable[[str], None] = _silent  # what takes time (an export, a quantization), for stderr
    check: CheckProvider = sample_images  # the images a first run checks an export on
    int8: Int8Request | None = None  # --precision int8
    memo: DigestMemo = field(default_factory=lambda: DigestMemo(None))

    def entry(self, *, precision: str = "fp32", calibration: str | None = None) -> Path:
        """This model's cache entry as run here (and for INT8, as calibrated)."""
        key = cache_key(
            self.detector, self.options.imgsz, self.batch, self.memo, precision=precision, calibration=calibration
        )
        return cache_root() / key

    @property
    def weights(self) -> str:
        """The SHA-256 of the checkpoint whose results every runtime must give."""
        return self.memo.digest(Path(self.detector.weights_path))
