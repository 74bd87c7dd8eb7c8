"""The runtimes a model can run in, one module each, found through one table (`RUNTIMES`).

Each runtime answers the same questions (`base.Runtime`): is it usable here, how it exports a model,
what may run its export (best first: the first run checks them in that order), how a cached entry's
export is opened as it was verified, which folder of the entry holds its files, whether it quantizes
(INT8 is a precision of OpenVINO, not a runtime of its own), and its name for people. The first run
(`runtime_trial`), the cache (`runtime_cache`), the choice (`runtime`), Ray's actors and `export`
ask this table; nothing outside `models/` imports a runtime's module, and nothing else learns a
runtime's name to branch on it. A new runtime is a new module and a new row here.

Importing this costs nothing: a runtime imports its package only when asked to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detect_cli.models.runtimes.base import Runtime
from detect_cli.models.runtimes.onnxruntime import ONNX_RUNTIME
from detect_cli.models.runtimes.openvino import OPENVINO
from detect_cli.models.runtimes.pytorch import PYTORCH

if TYPE_CHECKING:
    from pathlib import Path

    from detect_cli.models.detector import Detector

__all__ = ["EXPORTED", "RUNTIMES", "Runtime", "display", "get", "open_shipped", "runner_of", "shipped_facts"]

RUNTIMES: dict[str, Runtime] = {r.name: r for r in (PYTORCH, OPENVINO, ONNX_RUNTIME)}
EXPORTED = tuple(name for name, r in RUNTIMES.items() if r.export_format)  # what --backend auto tries, in order


def get(name: str) -> Runtime:
    """The runtime of that name; KeyError for a name no runtime has (a foreign cache decision)."""
    return RUNTIMES[name]


def display(name: str, precision: str = "fp32") -> str:
    """A runtime's name for people, with a precision other than fp32 ("OpenVINO INT8"); an export
    format no runtime is registered for (TorchScript, NCNN: Ultralytics' wrapper runs it) as it is named."""
    runtime = RUNTIMES.get(name)
    shown = runtime.display if runtime is not None else name
    return shown if precision == "fp32" else f"{shown} {precision.upper()}"


def runners() -> tuple[str, ...]:
    """Every runner any runtime's export may be run by (what a cache decision may name)."""
    return tuple(dict.fromkeys(runner for r in RUNTIMES.values() for runner in r.runners))


def runner_of(detector: Detector) -> str | None:
    """What runs an export: a runtime's own runner (e.g. "direct" for attn-detect's OpenVINO
    runner), "ultralytics" for Ultralytics' wrapper, None for the PyTorch model."""
    for runtime in RUNTIMES.values():
        runner = runtime.runner_of(detector)
        if runner is not None:
            return runner
    return None


def shipped_facts(detector: Detector, origin: Any) -> dict[str, Any] | None:
    """What another process (a Ray actor) needs to open this detector's export with the runner that
    was verified, beside the export's files; None when Ultralytics' loader is enough."""
    runtime = RUNTIMES.get(detector.backend)
    return None if runtime is None else runtime.shipped_facts(detector, origin)


def open_shipped(facts: dict[str, Any], folder: Path, *, threads: int) -> Detector:
    """The export in `folder` opened as `shipped_facts` says (raises what the runtime raises)."""
    return get(facts["runtime"]).open_shipped(facts, folder, threads=threads)
