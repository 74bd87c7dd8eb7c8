"""`detect_cli.compare`: several models on the same images, from Python, as `attn-detect compare` runs them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detect_cli.api.model import ANALYSIS, OPENING, Model
from detect_cli.api.reports import ComparisonReport, document
from detect_cli.inputs.arrays import python_sources
from detect_cli.inputs.sources import type_name


def compare(
    models: Sequence[Model | str],
    source: Any,
    *,
    labels: str | os.PathLike[str] | None = None,
    warmup: int = 1,
    **settings: Any,
) -> ComparisonReport:
    """Run several models on the same images (each read once, the order rotated per image): speed,
    counts, agreement, and with `labels` (COCO JSON or YOLO folder) mAP. `models`: `Model`s, or specs
    opened here with `settings`. Its `to_dict()` is `attn-detect compare --format json`'s document."""
    from detect_cli.evaluation.labels import Labels
    from detect_cli.tasks.compare import COMPARE, CompareJob, check_models, contender, recorded_settings, shown_names

    if isinstance(models, (str, os.PathLike)) or not isinstance(models, Sequence):
        raise TypeError(f"compare(models): expected a list of Models or model names, got {type_name(models)}")
    check_models(models)
    opened = [m if isinstance(m, Model) else _open(m, n, settings) for n, m in enumerate(models)]
    per_call = {k: v for k, v in settings.items() if k not in OPENING}
    runs = [m._settings(per_call) for m in opened]
    label_file = Labels.read(Path(labels)) if labels is not None else None
    names = shown_names([m.spec + ("+slice" if run.slice else "") for m, run in zip(opened, runs)])
    contenders = [
        contender(name, model.detector, run, sliced=run.slice is not None, scored=labels is not None)
        for name, model, run in zip(names, opened, runs)
    ]
    first = runs[0]
    job = CompareJob(
        contenders,
        [label_file.for_model(c.detector.names) for c in contenders] if label_file else None,
        first.conf,
        _read_options(first),
        warmup,
        settings=recorded_settings(
            first,
            opened[0].requested.imgsz,
            str(labels) if labels is not None else None,
            sliced=any(r.slice for r in runs),
        ),
        analysis_options=ANALYSIS if labels is not None else None,
    )
    sources = python_sources(source, recursive=first.recursive, max_pixels=first.max_pixels)
    return ComparisonReport(document(job, sources, COMPARE, {"command": "compare", "models": names}))


def _open(spec: Any, n: int, settings: dict[str, Any]) -> Model:
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"compare(models[{n}]): expected a Model or a model name or path, got {type_name(spec)}")
    return Model(spec, **settings)


def _read_options(settings: Any) -> Any:
    from detect_cli.models.open import read_options

    return read_options(settings)
