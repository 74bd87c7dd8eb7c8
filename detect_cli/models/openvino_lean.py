"""`import openvino` for running a model, without its model converter.

OpenVINO's `__init__` imports `openvino.tools.ovc` (for `openvino.convert_model`), and with it its
telemetry, urllib, http.client, ssl, email and numpy.ma: about a third of the import (0.58 s of CPU
against 0.38 s here, on a loaded 2-core EPYC), none of which a cached run needs. `lean_openvino()`
imports the package with the converter held back, then puts `convert_model` back as a lazy attribute,
so an export later in the same process (Ultralytics' `ov.convert_model`, NNCF) finds it as usual.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

CONVERTER = "openvino.tools.ovc"


def lean_openvino() -> ModuleType:
    """The `openvino` module; imported now without its converter if nothing imported it yet."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    held = CONVERTER not in sys.modules
    if held:
        sys.modules[CONVERTER] = None  # type: ignore[assignment]  # its import raises ImportError: skipped
    try:
        import openvino
    finally:
        if held and sys.modules.get(CONVERTER, 0) is None:
            del sys.modules[CONVERTER]
    if "convert_model" not in vars(openvino):
        openvino.__getattr__ = _converter  # type: ignore[attr-defined]  # PEP 562: asked only when missing
    return openvino


def _converter(name: str) -> Any:
    if name == "convert_model":
        from openvino.tools.ovc import convert_model

        return convert_model
    raise AttributeError(f"module 'openvino' has no attribute {name!r}")
