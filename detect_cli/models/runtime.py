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
from typing import TYPE_CHECKING, Any

from detect_cli.core.errors import one_line
from detect_cli.models.cache_files import DigestMemo, EntryMismatch, inside, remove_entry
from detect_cli.models.check_images import CheckProvider, sample_images
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.runtime_cache import (
    CACHE_ENV,
    cache_dir,
    cache_key,
    cache_root,
    cpu_name,
    digest_memo,
    load_decision,
    remember_model,
)

if TYPE_CHECKING:
    from detect_cli.models.int8_trial import Int8Request

__all__ = ["CACHE_ENV", "BackendChoice", "cache_key", "cache_root", "choose_backend", "cpu_name"]
CANDIDATES = ("openvino", "onnx")
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
    """The detector to run and why (also recorded on it as `backend`, `precision` and
    `backend_reason`). `wanted` is auto, torch, openvino or onnx; `int8` asks for the INT8 model
    (used only if it passes its gate); `check` gives the images a first run checks an export on (the
    run's own; samples when not given). `choice.notes` are for the user (stderr)."""
    say = status or (lambda _message: None)
    chosen, choice = _choose(detector, wanted, options, batch, threads, say, int8, check or sample_images)
    if int8 is not None and choice.precision == "fp32" and "int8" not in choice.reason:  # stopped before INT8
        choice = replace(choice, notes=(*choice.notes, f"--precision int8 not used: {choice.reason}"))
    chosen.backend, chosen.backend_reason, chosen.precision = choice.backend, choice.reason, choice.precision
    if choice.backend == "torch" and detector.ref.kind != "exported":
        detector._ultralytics()  # opened from the cache's facts: load it now, so that a load error shows here
        from detect_cli.models.ultralytics_env import set_torch_threads

        set_torch_threads(threads)  # loading a candidate export lowered torch's threads (runtime_trial)
    return chosen, choice


def _choose(
    detector: Detector,
    wanted: str,
    options: PredictOptions,
    batch: int,
    threads: int,
    say: Callable[[str], None],
    int8: Int8Request | None,
    check: CheckProvider,
) -> tuple[Detector, BackendChoice]:
    if wanted == "torch":
        return detector, BackendChoice("torch", "requested (--backend torch)")
    if detector.ref.kind == "exported":
        return detector, BackendChoice(detector.backend, "an exported model runs in its own runtime")
    why_not = _torch_only_reason(detector, options)
    if why_not:
        return detector, BackendChoice("torch", why_not)
    if wanted == "auto" and detector.ref.kind == "yaml":
        return detector, BackendChoice("torch", "random weights (a model YAML) cannot be verified against PyTorch")
    candidates = CANDIDATES if wanted == "auto" else (wanted,)
    try:
        forced = wanted != "auto"
        return _through_cache(detector, candidates, options, batch, threads, say, forced=forced, int8=int8, check=check)
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
    detector: Detector,
    candidates: tuple[str, ...],
    options: PredictOptions,
    batch: int,
    threads: int,
    say: Callable[[str], None],
    *,
    forced: bool,
    int8: Int8Request | None = None,
    check: CheckProvider = sample_images,
) -> tuple[Detector, BackendChoice]:
    from detect_cli.models.known_models import model_facts

    memo = digest_memo()
    try:
        weights = memo.digest(Path(detector.weights_path))
        if detector.ref.kind == "weights":
            remember_model(weights, model_facts(detector))
        entry = cache_root() / cache_key(detector, options.imgsz, batch, memo)
        notes: tuple[str, ...] = ()
        try:
            decision = load_decision(entry, candidates, memo)
        except EntryMismatch as exc:
            notes = (f"the cached runtime for {detector.ref.spec} is not the one verified ({exc}): rebuilding it",)
            say(notes[0])
            remove_entry(entry)
            decision = None
        if decision is None:
            from detect_cli.models.runtime_trial import decide

            images = check(detector)
            decision = decide(detector, candidates, options, entry, threads, say, memo, forced=forced, check=images)
        chosen, choice = _apply(detector, entry, decision, threads, weights)
        if int8 is not None:
            chosen, choice = _int8(detector, chosen, choice, entry, decision, int8, options, batch, threads, say, memo)
        return chosen, replace(choice, notes=notes + choice.notes)
    finally:
        memo.save()


def _apply(
    detector: Detector, entry: Path, decision: dict[str, Any], threads: int, weights: str
) -> tuple[Detector, BackendChoice]:
    cached = bool(decision.get("cached"))
    if decision.get("backend") in (None, "torch"):
        return detector, BackendChoice("torch", str(decision.get("reason") or "PyTorch"), cached)
    path = entry / decision["path"]
    runner = decision.get("runner", "ultralytics")
    try:
        exported = _open_export(detector, entry, decision, threads, weights)
    except Exception as exc:  # a damaged cache entry: PyTorch now, rebuilt on the next run
        with contextlib.suppress(OSError):
            remove_entry(entry)
        why = one_line(exc, first=True)
        reason = f"the cached {decision['backend']} export is unusable ({why}); rebuilt on the next run"
        return detector, BackendChoice("torch", reason)
    choice = BackendChoice(
        str(decision["backend"]),
        as_measured(str(decision.get("reason", "")), decision) if cached else str(decision.get("reason", "")),
        cached,
        decision.get("speedup"),
        decision.get("f1"),
        str(path),
        runner,
    )
    return exported, choice


def as_measured(reason: str, decision: dict[str, Any]) -> str:
    """A cached reason's speed figure says when and where it was measured: "2.0x torch here" was true
    of the first run, on a machine as busy as it was then ("2.0x torch, measured 2026-12-07 on <CPU>")."""
    measured = decision.get("measured")
    when = ", measured at the first run"
    if isinstance(measured, dict) and isinstance(measured.get("when"), str):
        where = f" on {measured['cpu']}" if isinstance(measured.get("cpu"), str) else ""
        when = f", measured {measured['when'][:10]}{where}"
    return re.sub(r"(x (?:torch|fp32)) here\b", lambda m: m.group(1) + when, reason)


def _int8(
    detector: Detector,
    fp32: Detector,
    choice: BackendChoice,
    fp32_entry: Path,
    fp32_decision: dict[str, Any],
    request: Int8Request,
    options: PredictOptions,
    batch: int,
    threads: int,
    say: Callable[[str], None],
    memo: DigestMemo,
) -> tuple[Detector, BackendChoice]:
    """The INT8 model if it passed its gate (quantized now, or cached), else the FP32 choice with the
    reason INT8 is not used added to it."""
    if choice.backend != "openvino" or choice.runner != "direct":
        why = f"int8 not tried: it is made from attn-detect's own OpenVINO runner, and {choice.backend} runs here"
        note = f"--precision int8 not used: {why}"
        return fp32, replace(choice, reason=f"{choice.reason}; {why}", notes=(*choice.notes, note))
    from detect_cli.models.int8_trial import int8_decision

    try:
        entry, decision, notes = int8_decision(
            detector, fp32, fp32_entry, fp32_decision, request, options, batch, threads, say, memo
        )
    except OSError as exc:
        decision, notes = {"backend": "fp32", "reason": f"int8 not tried: runtime cache unusable ({exc})"}, ()
    checked = decision.get("checked") or {}
    figures = {k: checked[k] for k in GATE_FIGURES if k in checked} or None
    if decision["backend"] == "openvino":
        weights = memo.digest(Path(detector.weights_path))
        int8_detector, int8_choice = _apply(detector, entry, decision, threads, weights)
        if int8_choice.backend == "openvino":
            return int8_detector, replace(int8_choice, precision="int8", int8=figures, notes=notes)
        decision = {"reason": f"int8 not used: {int8_choice.reason}"}  # a damaged entry: removed, rebuilt next run
    reason = f"{choice.reason}; {decision['reason']}"
    notes = (*notes, f"--precision int8 not used, running fp32: {decision['reason']}")
    return fp32, replace(choice, reason=reason, int8=figures, notes=choice.notes + notes)


def _open_export(detector: Detector, entry: Path, decision: dict[str, Any], threads: int, weights: str) -> Detector:
    checked = decision.get("checked") or {}
    if checked.get("weights_sha256") != weights or checked.get("names") != {
        str(k): v for k, v in detector.names.items()
    }:
        raise EntryMismatch("it was verified against other weights")
    if decision.get("runner") == "direct":
        from detect_cli.models.openvino_direct import COMPILED, open_openvino

        (xml,) = [name for name in decision["files"] if name.endswith(".xml")]
        runtime = str(decision["path"]).split("/")[0]
        compiled = entry / runtime / COMPILED
        has_compiled = any(name.startswith(f"{runtime}/{COMPILED}/") for name in decision["files"])
        exported = open_openvino(
            inside(entry, xml), detector, threads=threads, compiled=compiled if has_compiled else None
        )
        if exported.input_hw != tuple(checked.get("input_hw") or ()):
            raise EntryMismatch(f"the export's input is {exported.input_hw}, verified at {checked.get('input_hw')}")
        return exported
    from detect_cli.models.export import load_exported
    from detect_cli.models.runtime_trial import torch_threads_beside

    exported = load_exported(entry / decision["path"], detector.ref.family, threads=torch_threads_beside(threads))
    exported.ref = replace(exported.ref, spec=detector.ref.spec)
    exported.origin = detector.ref
    exported.names = detector.names
    exported.end2end_capable = detector.end2end_capable
    return exported
