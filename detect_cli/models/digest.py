"""The SHA-256 of a model's weights: what a cached runtime and a resumed run are tied to."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detect_cli.models.detector import Detector


def weights_digest(detector: Detector) -> str:
    path = Path(detector.weights_path)
    if not path.is_file():
        return f"definition:{detector.weights_path}"  # a model YAML by name, or an export folder
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
