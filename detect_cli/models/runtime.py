"""Choose the runtime that runs a model: the fastest one proven, on this machine, to give the same boxes.

`auto` on a CPU exports the model to OpenVINO (then ONNX Runtime, if OpenVINO fails or is not
faster than PyTorch), checks the export against PyTorch on sample images (same boxes: F1 >= 0.99
at IoU 0.9, confidences within 0.05), times both warm, and keeps the fastest that passed. OpenVINO
comes first because it beat ONNX Runtime on every CPU we measured (benchmarks/bench_export.py).

The decision and the export are cached in the user cache dir, keyed by the weights' SHA-256,
imgsz, batch, the CPU and the versions of the runtimes, so later runs start at once. Entries
appear by atomic rename (concurrent first runs are safe) and an unreadable entry is rebuilt.
Anything that fails falls back to PyTorch with a reason; it is never an error.

Long because the cached decision, the trial of each runtime and the fallback share one cache entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from detect_cli import __version__
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.digest import weights_digest

CANDIDATES = ("openvino", "onnx")
RUNTIME_PACKAGES = {"openvino": "openvino", "onnx": "onnxruntime"}
CACHE_ENV = "ATTN_DETECT_CACHE_DIR"
GATE = {"min_f1": 0.99, "max_conf_diff": 0.05, "iou": 0.9, "margin": 0.05, "conf": 0.25}
MIN_GAIN = 1.05  # a runtime must beat PyTorch by 5% to be worth a second file format
MIN_BOXES = 5  # a check that compares fewer boxes proves nothing (a random-weight model finds none)
GOOD_ENOUGH = 1.2  # OpenVINO at least this much faster: don't spend the time to try ONNX Runtime too


@dataclass(frozen=True)
class BackendChoice:
    """Which runtime runs the model, and why (shown in the run summary and the JSON header)."""

    backend: str
    reason: str
    cached: bool = False
    speedup: float | None = None  # PyTorch ms / this runtime's ms, measured here
    f1: float | None = None
    path: str | None = None  # the export that runs, when not PyTorch

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_root() -> Path:
    """ATTN_DETECT_CACHE_DIR, else the XDG cache dir (~/.cache/attn-detect)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "backends"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attn-detect" / "backends"


def cpu_name() -> str:
    """The CPU model (a cached speed ranking is only valid on the CPU that measured it)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def cache_key(detector: Detector, imgsz: int, batch: int) -> str:

    facts = {
        "weights": weights_digest(detector), "imgsz": imgsz, "batch": batch, "family": detector.ref.family,
        "cpu": cpu_name(), "cores": os.cpu_count(), "attn_detect": __version__, "precision": "fp32",
        **{p: _version(p) for p in ("ultralytics", "torch", "openvino", "onnxruntime")},
    }  # fmt: skip
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


def choose_backend(
    detector: Detector,
    wanted: str,
    options: PredictOptions,
    *,
    batch: int = 1,
    threads: int = 0,
    status: Callable[[str], None] | None = None,
) -> tuple[Detector, BackendChoice]:
    """The detector to run and why (also recorded on it as `backend` and `backend_reason`).
    `wanted` is auto, torch, openvino or onnx."""
    chosen, choice = _choose(detector, wanted, options, batch, threads, status or (lambda _message: None))
    chosen.backend, chosen.backend_reason = choice.backend, choice.reason
    if choice.backend == "torch" and detector.ref.kind != "exported":
        from detect_cli.models.ultralytics_env import use_all_cores

        use_all_cores(threads)  # loading a candidate export lowered torch's threads (torch_threads_beside)
    return chosen, choice


def _choose(detector: Detector, wanted: str, options: PredictOptions, batch: int, threads: int,
            say: Callable[[str], None]) -> tuple[Detector, BackendChoice]:  # fmt: skip
    if wanted == "torch":
        return detector, BackendChoice("torch", "requested (--backend torch)")
    if detector.ref.kind == "exported":
        return detector, BackendChoice(detector.backend, "an exported model runs in its own runtime")
    why_not = _torch_only_reason(detector, options)
    if why_not:
        return detector, BackendChoice("torch", why_not)
    if wanted == "auto" and detector.ref.kind == "yaml":
        return detector, BackendChoice("torch", "random weights (a model YAML) cannot be verified against PyTorch")
    entry = cache_root() / cache_key(detector, options.imgsz, batch)
    candidates = CANDIDATES if wanted == "auto" else (wanted,)
    decision = _read_decision(entry, candidates)
    if decision is None:
        decision = _decide(detector, candidates, options, entry, threads, say, forced=wanted != "auto")
    return _apply(detector, entry, decision, threads)


def _torch_only_reason(detector: Detector, options: PredictOptions) -> str | None:
    if not _on_cpu(detector.device):
        return "GPU: PyTorch (no faster runtime verified on GPUs yet)"
    if options.nms and detector.end2end_capable:
        return "--nms selects the PyTorch model's NMS head"
    return None


def _on_cpu(device: str) -> bool:
    if device in {"cpu", "CPU"}:
        return True
    if device in {"", "auto"}:
        import torch

        return not torch.cuda.is_available() and not torch.backends.mps.is_available()
    return False


def _read_decision(entry: Path, candidates: tuple[str, ...]) -> dict[str, Any] | None:
    """A cached decision, if it is readable, covers these candidates and its export is still there."""
    try:
        decision = json.loads((entry / "decision.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(decision, dict) or decision.get("candidates") != list(candidates):
        return None
    backend = decision.get("backend")
    if backend != "torch" and not (isinstance(decision.get("path"), str) and (entry / decision["path"]).exists()):
        return None
    return {**decision, "cached": True}


def _decide(detector: Detector, candidates: tuple[str, ...], options: PredictOptions, entry: Path, threads: int,
            say: Callable[[str], None], *, forced: bool) -> dict[str, Any]:  # fmt: skip
    """Export, verify and time each candidate; write the decision (and winning export) to the cache."""
    from detect_cli.models.export import verification_images

    images = verification_images(detector)
    check_options = PredictOptions(conf=GATE["conf"], imgsz=options.imgsz, max_det=options.max_det)
    tried: list[str] = []
    found = sum(
        len(dets) for image in images for dets, _ in detector.predict([image], replace(check_options, conf=0.05))
    )
    to_try = candidates
    if found < MIN_BOXES:  # nothing to compare an export with (a random-weight model finds nothing): don't export
        to_try = ()
        tried.append(f"not verifiable: PyTorch finds {found} boxes on the check images (fewer than {MIN_BOXES})")
    best: dict[str, Any] | None = None
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_ensure(entry.parent)))
    try:
        for runtime in to_try:
            if importlib.util.find_spec(RUNTIME_PACKAGES[runtime]) is None:
                tried.append(f"{runtime}: not installed")
                continue
            say(f"preparing a faster runtime: exporting to {runtime} and checking it against PyTorch (once)…")
            outcome = _try_runtime(detector, runtime, images, check_options, work, threads)
            tried.append(outcome["summary"])
            if outcome["passed"] and (forced or outcome["speedup"] >= MIN_GAIN):
                if best is None or outcome["speedup"] > best["speedup"]:
                    best = outcome
            if best and best["speedup"] >= GOOD_ENOUGH:
                break
        if best is None:
            decision = {"backend": "torch", "reason": "; ".join(tried) or "no runtime to try"}
        else:
            final = entry / best["runtime"]
            _publish(work / best["runtime"], final)
            decision = {
                "backend": best["runtime"], "path": best["runtime"] + "/" + best["file"],
                "reason": best["summary"], "speedup": best["speedup"], "f1": best["f1"],
            }  # fmt: skip
        decision["candidates"] = list(candidates)
        decision["measured"] = {"cpu": cpu_name(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        _write_json_atomic(entry / "decision.json", decision)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**decision, "cached": False}


def _try_runtime(detector: Detector, runtime: str, images: list, options: PredictOptions, work: Path,
                 threads: int) -> dict[str, Any]:  # fmt: skip
    from detect_cli.models.export import FORMATS, export_model, load_exported, verify

    failed = {"runtime": runtime, "passed": False, "speedup": 0.0}
    try:
        path = export_model(detector, FORMATS[runtime], work / runtime, imgsz=options.imgsz)
        exported = load_exported(path, detector.ref.family, threads=torch_threads_beside(threads))
        gate = {k: GATE[k] for k in ("min_f1", "max_conf_diff", "iou", "margin")}
        check = verify(detector, exported, images, options, **gate)
        if check.agreement.count_a < MIN_BOXES:  # too few boxes to prove anything: compare the weak ones too
            check = verify(detector, exported, images, replace(options, conf=0.05), **{**gate, "margin": 0.02})
        if check.agreement.count_a < MIN_BOXES:
            found = check.agreement.count_a
            return {**failed, "summary": f"{runtime}: not verified (PyTorch finds {found} boxes on the check images, "
                                         "too few to compare)"}  # fmt: skip
    except Exception as exc:  # any failure means: not this runtime
        return {**failed, "summary": f"{runtime}: export failed ({str(exc).splitlines()[0][:120]})"}
    if not check.passed:
        return {**failed, "summary": f"{runtime}: not the same boxes (F1 {check.f1:.3f}, "
                                     f"confidence off by up to {check.max_conf_diff:.3f})"}  # fmt: skip
    from detect_cli.models.ultralytics_env import use_all_cores

    use_all_cores(threads)  # each timed as it would run: PyTorch on every core, torch beside the runtime on one
    torch_ms = warm_ms(detector, images, options)
    use_all_cores(torch_threads_beside(threads))
    speedup = torch_ms / max(warm_ms(exported, images, options), 1e-6)
    return {
        "runtime": runtime, "passed": True, "speedup": speedup, "f1": check.f1,
        "file": path.relative_to(work / runtime).as_posix(),
        "summary": f"{runtime}: verified F1 {check.f1:.3f}, {speedup:.1f}x torch here",
    }  # fmt: skip


def warm_ms(detector: Detector, images: list, options: PredictOptions, rounds: int = 3) -> float:
    """Median ms per image over a few warm rounds (one prediction's hiccup doesn't decide the runtime)."""
    import statistics

    detector.predict(images[:1], options)
    times = []
    for _ in range(rounds):
        for image in images:
            start = time.perf_counter()
            detector.predict([image], options)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def torch_threads_beside(threads: int) -> int:
    """Torch threads while another runtime runs the network: torch then only letterboxes and decodes
    boxes, and a second pool of spinning threads slows the runtime's own (demo on 2 cores: 10.7 ->
    6.8 ms inference, 15.4 -> 11.1 ms per image end to end). An explicit --threads is kept."""
    return threads if threads > 0 else 1


def _apply(detector: Detector, entry: Path, decision: dict[str, Any], threads: int) -> tuple[Detector, BackendChoice]:
    from detect_cli.models.export import load_exported

    cached = bool(decision.get("cached"))
    if decision.get("backend") in (None, "torch"):
        return detector, BackendChoice("torch", str(decision.get("reason") or "PyTorch"), cached)
    path = entry / decision["path"]
    try:
        exported = load_exported(path, detector.ref.family, threads=torch_threads_beside(threads))
    except Exception as exc:  # a damaged cache entry: PyTorch now, rebuilt on the next run
        shutil.rmtree(entry, ignore_errors=True)
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        reason = f"the cached {decision['backend']} export is unusable ({why}); rebuilt on the next run"
        return detector, BackendChoice("torch", reason)
    exported.ref = replace(exported.ref, spec=detector.ref.spec)
    exported.origin = detector.ref
    exported.names = detector.names
    exported.end2end_capable = detector.end2end_capable
    choice = BackendChoice(str(decision["backend"]), str(decision.get("reason", "")), cached,
                           decision.get("speedup"), decision.get("f1"), str(path))  # fmt: skip
    return exported, choice


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _publish(staged: Path, final: Path) -> None:
    """Move an export into the cache by rename; if a concurrent run got there first, keep theirs
    (same key, same model): a folder in use is never replaced under a running process."""
    _ensure(final.parent)
    with contextlib.suppress(OSError):
        os.rename(staged, final)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    _ensure(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)
