"""Open a checkpoint the runtime cache already knows without loading it (no torch, no Ultralytics).

A run whose verified OpenVINO export is cached needs nothing from the PyTorch model but what the
cache recorded about it: class names, family, its own imgsz, stride, and whether it has the
end-to-end head. So on a CPU, `open_known` gives a `Detector` made of those facts, keyed by the
weights' SHA-256 (memoised by the file's identity and times, `cache_files.DigestMemo`); the
PyTorch model is loaded the first time something needs it (no verified export, attention, saving).
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path
from typing import Any

from detect_cli.models.cache_files import EntryMismatch
from detect_cli.models.detector import Detector, load_detector
from detect_cli.models.lookup import ModelRef
from detect_cli.models.runtime_cache import (
    MODEL_FACTS,
    digest_memo,
    known_model,
    measured_profile,
    remember_model,
)

HALF_ON_CPU = "--half ignored: half precision is not supported on the CPU; running fp32"


def maybe_gpu() -> bool:
    """False when this machine surely has no GPU that torch could use (Linux with no NVIDIA or AMD
    device node), so that nobody imports torch to ask; True elsewhere (then only torch can tell)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg"))


def core_facts(detector: Detector) -> dict[str, Any]:
    """What the checkpoint is, as far as its results go (`runtime_cache.MODEL_FACTS`): what the cache
    records of it, and what a decision records of the model its export was verified against."""
    return {
        "family": detector.ref.family,
        "names": {str(k): v for k, v in detector.names.items()},
        "imgsz": detector.native_imgsz,
        "stride": detector.stride,
        "end2end": detector.end2end_capable,
    }


def model_facts(detector: Detector) -> dict[str, Any]:
    """What `open_known` needs to know about a loaded checkpoint to open it later without loading it,
    and its parameter count when it is loaded (cheap; its GFLOPs are not: `model_profile`)."""
    facts = {**core_facts(detector), "trusted": detector.trusted}
    net = detector.network() if detector._model is not None else None
    if net is not None:
        facts["params_m"] = sum(p.numel() for p in net.parameters()) / 1e6
    return facts


def model_profile(detector: Detector, imgsz: int) -> dict[str, float | None]:
    """Parameters (M), GFLOPs at `imgsz` and the size of what runs (MB), as `Detector.profile`, for
    `compare`. A checkpoint's parameters and GFLOPs are the same whichever runtime runs it: they come
    from what the cache recorded under its SHA-256 when it has them (no torch), else they are measured
    on the PyTorch model (loaded for it if a verified export runs) and recorded, GFLOPs per imgsz
    (thop's count costs ~0.4 s, so a first `detect` run leaves it to the first `compare`)."""
    origin = detector.origin or detector.ref
    if origin.kind != "weights":  # a YAML (random weights) or an export the user named: as it is
        return detector.profile(imgsz)
    memo = digest_memo()
    try:
        weights = memo.digest(Path(origin.path))
        facts = known_model(weights) or {}
    except (OSError, EntryMismatch):
        weights, facts = None, {}
    finally:
        memo.save()
    known = measured_profile(facts)
    params, gflops = known.get("params_m"), known.get("gflops", {}).get(str(imgsz))
    if params is None or gflops is None:
        measured = _measure(detector, origin, imgsz, trusted=bool(facts.get("trusted", detector.trusted)))
        params, gflops = measured.get("params_m"), measured.get("gflops")
        if weights is not None and facts and params is not None and gflops is not None:
            remember_model(weights, {**facts, "params_m": params, "gflops": {str(imgsz): gflops}})
    return {"params_m": params, "gflops": gflops, "file_mb": detector.file_mb()}


def _measure(detector: Detector, origin: ModelRef, imgsz: int, *, trusted: bool) -> dict[str, float | None]:
    if detector.network() is not None:  # the PyTorch model runs (loaded now if opened from the facts)
        return detector.profile(imgsz)
    try:  # an export runs: its checkpoint, loaded once more only to be counted
        return load_detector(origin, device="cpu", trusted=trusted).profile(imgsz)
    except Exception:  # unknown is shown as unknown; the run's results stand
        return {}


def open_known(
    ref: ModelRef,
    *,
    device: str = "cpu",
    half: bool = False,
    threads: int = 0,
    verbose: bool = False,
    trusted: bool = False,
) -> Detector | None:
    """A not-yet-loaded Detector for `ref` (arguments as `load_detector`'s), or None when the cache does
    not know this file, the device may be a GPU, or the file needed --trust-model and it is not given."""
    if ref.kind != "weights" or device not in {"", "auto", "cpu"} or (device != "cpu" and maybe_gpu()):
        return None
    memo = digest_memo()
    try:
        weights = memo.digest(Path(ref.path))
        facts = known_model(weights)
    except (OSError, EntryMismatch):
        return None
    finally:
        memo.save()
    if facts is None or facts["family"] != ref.family or (facts["trusted"] and not trusted):
        return None  # a file that needed --trust-model to load is loaded (and refused) as it always was
    args = {"device": device, "half": half, "threads": threads, "verbose": verbose, "trusted": trusted}

    def load() -> Detector:
        """The checkpoint itself, whose facts win: a record that differs is rewritten from it (the
        Detector opened from the record takes the loaded facts and says so: `Detector._ultralytics`)."""
        loaded = load_detector(ref, **args)
        if core_facts(loaded) != {k: facts[k] for k in MODEL_FACTS}:
            remember_model(weights, model_facts(loaded))
        return loaded

    names = {int(k): v for k, v in facts["names"].items()}
    return Detector(
        ref=ref,
        names=names,
        device=str(device),
        half=False,
        end2end_capable=facts["end2end"],
        load_s=0.0,
        notes=[HALF_ON_CPU] if half else [],
        native_imgsz=facts["imgsz"],
        stride=facts["stride"] or 32,
        trusted=trusted,
        _loader=load,
    )
