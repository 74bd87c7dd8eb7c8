"""Choose the runtime that runs a model: the fastest one proven, on this machine, to give the same boxes.

`auto` on a CPU exports the model to OpenVINO (then ONNX Runtime, if OpenVINO fails or is not
faster than PyTorch), checks the export against PyTorch on sample images (same boxes: F1 >= 0.99
at IoU 0.9, confidences within 0.05), times both warm, and keeps the fastest that passed
(`runtime_trial`). OpenVINO runs through our own adapter (`openvino_direct`: no torch) when that
adapter passes the check, else through Ultralytics' wrapper.

The decision and the export are cached (`runtime_cache`), keyed by the weights' SHA-256, imgsz,
batch, the CPU and the versions of the runtimes, so later runs start at once. The entry is checked
before it runs (every file against its recorded digest, every path inside the entry) and rebuilt
when it does not match. Anything that fails, the cache itself included, falls back to PyTorch with
a reason; it is never an error.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from detect_cli.core.errors import one_line
from detect_cli.models import runtimes
from detect_cli.models.cache_files import EntryMismatch, remove_entry
from detect_cli.models.check_images import CheckProvider, sample_images
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.runtime_cache import (
    CACHE_ENV,
    NO_EXPORT,
    Decision,
    cache_dir,
    cache_key,
    cache_root,
    cpu_name,
    digest_memo,
    load_decision,
    remember_model,
)
from detect_cli.models.runtime_request import Int8Request, RuntimeRequest

__all__ = ["CACHE_ENV", "BackendChoice", "cache_key", "cache_root", "choose_backend", "cpu_name"]
CANDIDATES = runtimes.EXPORTED  # what auto tries, in order
GATE_FIGURES = ("int8", "preset", "calibration", "quantize_s", "tried")  # what BackendChoice.int8 shows


@dataclass(frozen=True)
class BackendChoice:
    """Which runtime runs the model, and why (shown in the run summary and the JSON header)."""

    backend: str
    reason: str
    cached: bool = False
    speedup: float | None = None  # PyTorch ms / this runtime's ms, measured here
    f1: float | None = None
    path: str | None = None  # the export that runs, when not PyTorch
    runner: str | None = None  # for OpenVINO: "direct" (our adapter, no torch) or "ultralytics"
    precision: str = "fp32"  # int8: the quantized model that passed the accuracy gate (int8_gate)
    int8: dict[str, Any] | None = None  # --precision int8: the gate's figures, passed or not
    notes: tuple[str, ...] = field(default=(), compare=False)  # for stderr: an entry rebuilt, and why

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_backend(
    detector: Detector,
    wanted: str,
    options: PredictOptions,
    *,
    batch: int = 1,
    threads: int = 0,
    status: Callable[[str], None] | None = None,
    int8: Int8Request | None = None,
    check: CheckProvider | None = None,
) -> tuple[Detector, BackendChoice]:
    """The detector to run (a new one: `detector` is not changed) and why, also recorded on it as
    `backend`, `precision` and `backend_reason`. `wanted` is auto or a registered runtime
    (`runtimes.RUNTIMES`); `int8` asks for the INT8 model (used only if it passes its gate); `check`
    gives the images a first run checks an export on (the run's own; samples when not given).
    `choice.notes` are for the user (stderr)."""
    request = RuntimeRequest(
        detector=detector,
        options=options,
        batch=batch,
        threads=threads,
        say=status or (lambda _message: None),
        check=check or sample_images,
        int8=int8,
        memo=digest_memo(),
    )
    chosen, choice = _choose(request, wanted)
    if int8 is not None and choice.precision == "fp32" and "int8" not in choice.reason:  # stopped before INT8
        choice = replace(choice, notes=(*choice.notes, f"--precision int8 not used: {choice.reason}"))
    if choice.backend == "torch" and detector.ref.kind != "exported":
        # opened from the cache's facts: load it now, so that a load error shows here (and the checkpoint's
        # own facts correct `detector` itself, which the caller keeps: Detector._take_facts)
        chosen._ultralytics()
        from detect_cli.models.ultralytics_env import set_torch_threads

        set_torch_threads(threads)  # loading a candidate export lowered torch's threads (runtime_trial)
    chosen = replace(chosen, backend=choice.backend, backend_reason=choice.reason, precision=choice.precision)
    return chosen, choice


def _choose(request: RuntimeRequest, wanted: str) -> tuple[Detector, BackendChoice]:
    detector = request.detector
    if wanted == "torch":
        return detector, BackendChoice("torch", "requested (--backend torch)")
    if detector.ref.kind == "exported":
        reason = "an exported model runs in its own runtime"
        return detector, BackendChoice(detector.backend, reason, precision=detector.precision)
    why_not = _torch_only_reason(detector, request.options)
    if why_not:
        return detector, BackendChoice("torch", why_not)
    if wanted == "auto" and detector.ref.kind == "yaml":
        return detector, BackendChoice("torch", "random weights (a model YAML) cannot be verified against PyTorch")
    candidates = CANDIDATES if wanted == "auto" else (wanted,)
    try:
        return _through_cache(request, candidates, forced=wanted != "auto")
    except OSError as exc:  # the cache dir is a file, /dev/null, read-only, full...: never an error
        where = exc.filename or cache_dir()
        why = f"{where}: {exc.strerror or type(exc).__name__}"
        return detector, BackendChoice("torch", f"runtime cache unusable ({why}); set {CACHE_ENV} to a writable folder")


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
        from detect_cli.models.known_models import maybe_gpu

        if not maybe_gpu():  # no GPU device on this machine: no need to import torch to ask
            return True
        import torch

        return not torch.cuda.is_available() and not torch.backends.mps.is_available()
    return False


def _through_cache(
    request: RuntimeRequest, candidates: tuple[str, ...], *, forced: bool
) -> tuple[Detector, BackendChoice]:
    from detect_cli.models.known_models import model_facts

    detector = request.detector
    try:
        weights = request.weights
        if detector.ref.kind == "weights" and detector._model is not None:  # facts of the checkpoint, never
            remember_model(weights, model_facts(detector))  # written back from the record they were read from
        entry = request.entry()
        notes: tuple[str, ...] = ()
        try:
            decision = load_decision(entry, candidates, request.memo)
        except EntryMismatch as exc:
            notes = (f"the cached runtime for {detector.ref.spec} is not the one verified ({exc}): rebuilding it",)
            request.say(notes[0])
            remove_entry(entry)
            decision = None
        if decision is None:
            from detect_cli.models.runtime_trial import decide

            decision = decide(request, candidates, entry, forced=forced)
        chosen, choice = _apply(request, entry, decision)
        if request.int8 is not None:
            chosen, choice = _int8(request, chosen, choice, entry, decision)
        return chosen, replace(choice, notes=notes + choice.notes)
    finally:
        request.memo.save()


def _apply(request: RuntimeRequest, entry: Path, decision: Decision) -> tuple[Detector, BackendChoice]:
    detector = request.detector
    if decision.backend in NO_EXPORT:
        return detector, BackendChoice("torch", decision.reason or "PyTorch", decision.cached)
    try:
        exported = _open_export(request, entry, decision)
    except Exception as exc:  # a damaged cache entry: PyTorch now, rebuilt on the next run
        with contextlib.suppress(OSError):
            remove_entry(entry)
        why = one_line(exc, first=True)
        reason = f"the cached {decision.backend} export is unusable ({why}); rebuilt on the next run"
        return detector, BackendChoice("torch", reason)
    choice = BackendChoice(
        decision.backend,
        as_measured(decision.reason, decision) if decision.cached else decision.reason,
        decision.cached,
        decision.speedup,
        decision.f1,
        str(entry / str(decision.path)),
        decision.runner,
    )
    return exported, choice


def as_measured(reason: str, decision: Decision) -> str:
    """A cached reason's speed figure says when and where it was measured: "2.0x torch here" was true
    of the first run, on a machine as busy as it was then ("2.0x torch, measured 2026-12-07 on <CPU>")."""
    when = ", measured at the first run"
    if isinstance(decision.measured.get("when"), str):
        cpu = decision.measured.get("cpu")
        where = f" on {cpu}" if isinstance(cpu, str) else ""
        when = f", measured {decision.measured['when'][:10]}{where}"
    return re.sub(r"(x (?:torch|fp32)) here\b", lambda m: m.group(1) + when, reason)


def _int8(
    request: RuntimeRequest, fp32: Detector, choice: BackendChoice, fp32_entry: Path, fp32_decision: Decision
) -> tuple[Detector, BackendChoice]:
    """The INT8 model if it passed its gate (quantized now, or cached), else the FP32 choice with the
    reason INT8 is not used added to it."""
    quantizes = choice.backend in runtimes.RUNTIMES and runtimes.get(choice.backend).quantizes
    if not quantizes or choice.runner != "direct":
        why = f"int8 not tried: it is made from attn-detect's own OpenVINO runner, and {choice.backend} runs here"
        note = f"--precision int8 not used: {why}"
        return fp32, replace(choice, reason=f"{choice.reason}; {why}", notes=(*choice.notes, note))
    from detect_cli.models.int8_trial import int8_decision

    try:
        entry, decision, notes = int8_decision(request, fp32, fp32_entry, fp32_decision)
    except OSError as exc:
        entry, notes = fp32_entry, ()
        decision = Decision(backend="fp32", reason=f"int8 not tried: runtime cache unusable ({exc})", candidates=())
    figures = {k: decision.checked[k] for k in GATE_FIGURES if k in decision.checked} or None
    reason = decision.reason
    if decision.backend != "fp32":
        int8_detector, int8_choice = _apply(request, entry, decision)
        if int8_choice.backend != "torch":
            return int8_detector, replace(int8_choice, precision="int8", int8=figures, notes=notes)
        reason = f"int8 not used: {int8_choice.reason}"  # a damaged entry: removed, rebuilt next run
    notes = (*notes, f"--precision int8 not used, running fp32: {reason}")
    return fp32, replace(choice, reason=f"{choice.reason}; {reason}", int8=figures, notes=choice.notes + notes)


def _same_model(detector: Detector, checked: dict[str, Any], weights: str) -> None:
    """Raise EntryMismatch unless the export was verified against these weights, as the model they are:
    its names, size, stride and head. A detector opened from the cache's record of the checkpoint that
    disagrees with the entry loads the checkpoint, whose facts win (`Detector._take_facts`)."""
    from detect_cli.models.known_models import core_facts

    if checked.get("weights_sha256") != weights:
        raise EntryMismatch("it was verified against other weights")
    recorded = checked.get("model")
    if not isinstance(recorded, dict):
        raise EntryMismatch("it records no facts of the model it was verified against (an older attn-detect)")
    if core_facts(detector) != recorded and detector._model is None and detector.ref.kind == "weights":
        detector._ultralytics()
    if core_facts(detector) != recorded:
        differ = sorted(k for k, v in core_facts(detector).items() if recorded.get(k) != v)
        raise EntryMismatch(f"it was verified against the model with other {', '.join(differ)}")


def _open_export(request: RuntimeRequest, entry: Path, decision: Decision) -> Detector:
    detector = request.detector
    _same_model(detector, decision.checked, request.weights)
    return runtimes.get(decision.backend).open_cached(detector, entry, decision, request.threads)
