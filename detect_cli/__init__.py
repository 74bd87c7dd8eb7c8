"""attn-detect: a command-line object detector over Ultralytics YOLO26 and RT-DETR, and its Python API.

    import detect_cli
    model = detect_cli.Model("demo-rtdetr")
    results = model("sample_images/shapes/shape_00003.jpg")
    print(f"Detected {len(results[0].boxes)} objects using attention-based detection.")

`Model(spec, **settings)` opens a model as the CLI does (settings named as in `--config`); calling it
on paths, folders, globs, URLs, NumPy arrays (BGR) or PIL images gives `Result`s; `model.stream`,
`model.run` (the whole detect command: results file, resume, Ray), `model.evaluate`, `model.explain`,
`model.export` and `compare(models, source, labels=...)` do what the commands do. Every error the
library raises is an `AttnDetectError` with the CLI's message and exit code (`ConfigError` for a bad
setting, `ModelLoadError`, `InputError`, `ModelFailed`).

`import detect_cli` is cheap: the names below load their modules on first use (the CLI's --help
imports none of them). The task classes (`DetectJob`, `CompareJob`, ..., `drive`) are the layer
under `Model`, for callers that want their own sinks.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it: the package's public face, one table (SAHI's habit)
_API = {
    "Model": "detect_cli.api.model",
    "compare": "detect_cli.api.compare",
    "Result": "detect_cli.api.results",
    "Results": "detect_cli.api.results",
    "Explanation": "detect_cli.api.explanations",
    "Explanations": "detect_cli.api.explanations",
    "EvaluationReport": "detect_cli.api.reports",
    "ComparisonReport": "detect_cli.api.reports",
    "TrackReport": "detect_cli.api.reports",
    "AttnDetectError": "detect_cli.core.errors",
    "ConfigError": "detect_cli.core.errors",
    "ModelLoadError": "detect_cli.core.errors",
    "InputError": "detect_cli.core.errors",
    "ModelFailed": "detect_cli.core.errors",
    "ExitCode": "detect_cli.core.errors",
    "DetectPlan": "detect_cli.tasks.plan",
    "run_plan": "detect_cli.tasks.detect_run",
    "Listener": "detect_cli.tasks.detect_run",
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
