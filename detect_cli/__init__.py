"""attn-detect: a command-line object detector over Ultralytics YOLO26 and RT-DETR, and its Python API.

`import detect_cli` is cheap: the names below load their modules on first use (the CLI's --help
imports none of them).

    import detect_cli as ad
    settings = ad.load_settings(None, {"conf": 0.3})
    demo = ad.open_model(replace(settings, model="demo")).detector
    summary = ad.DetectJob(settings, demo).run(ad.iter_sources(["photos/"]))
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it: the package's public face, one table (SAHI's habit)
_API = {
    "load_settings": "detect_cli.core.settings",
    "DetectSettings": "detect_cli.core.settings",
    "Detections": "detect_cli.core.detections",
    "ImageResult": "detect_cli.core.results",
    "iter_sources": "detect_cli.inputs.sources",
    "open_model": "detect_cli.models.open",
    "predict_options": "detect_cli.models.open",
    "Labels": "detect_cli.evaluation.labels",
    "open_sink": "detect_cli.outputs.formats",
    "drive": "detect_cli.tasks.driver",
    "DetectJob": "detect_cli.tasks.detect",
    "EvaluateJob": "detect_cli.tasks.evaluate",
    "CompareJob": "detect_cli.tasks.compare",
    "Contender": "detect_cli.tasks.compare",
    "AttentionJob": "detect_cli.tasks.attention",
    "ExportJob": "detect_cli.tasks.export",
    "EXPORT_FORMATS": "detect_cli.models.export",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'detect_cli' has no attribute {name!r}")
    module = import_module(_API[name])
    value = getattr(module, "FORMATS" if name == "EXPORT_FORMATS" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
