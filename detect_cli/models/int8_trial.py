"""`--precision int8`: quantize a verified FP32 OpenVINO export once for this machine, gate it, cache it.

The INT8 entry sits beside the FP32 one, under a key that adds the precision and where the
calibration images came from (`runtime_cache.cache_key`). It is made from the FP32 entry's export,
whose files were just checked against their digests, and holds either the INT8 export that passed
the gate (laid out as an FP32 entry is, so it is checked and opened the same way) or the gate's
refusal with its figures: a refused model is not quantized again on every run. Not enough
calibration images, or no NNCF, is not cached: the next run may have them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detect_cli.core.errors import one_line
from detect_cli.models import runtimes
from detect_cli.models.cache_files import (
    EntryMismatch,
    digest_files,
    inside,
    owned_prefix,
    publish,
    remove_entry,
    sweep,
)
from detect_cli.models.calibration import CalibrationSet, TooFewImages
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.int8_gate import Int8Check
from detect_cli.models.runtime_cache import Decision, cpu_name, load_decision, write_decision
from detect_cli.models.runtime_request import RuntimeRequest

CANDIDATES = tuple(name for name, r in runtimes.RUNTIMES.items() if r.quantizes)  # INT8: a precision of these


def int8_decision(
    request: RuntimeRequest, fp32: Detector, fp32_entry: Path, fp32_decision: Decision
) -> tuple[Path, Decision, tuple[str, ...]]:
    """The INT8 entry, its decision (backend "openvino": the INT8 export passed; "fp32": run the
    FP32 export, with the reason), and notes for the user. Raises OSError when the cache cannot be
    written (the caller runs FP32)."""
    assert request.int8 is not None, "int8_decision is asked only for --precision int8"
    detector = request.detector
    entry = request.entry(precision="int8", calibration=request.int8.key)
    notes: tuple[str, ...] = ()
    try:
        decision = load_decision(entry, CANDIDATES, request.memo, precision="int8")
    except EntryMismatch as exc:
        notes = (f"the cached INT8 model for {detector.ref.spec} is not the one verified ({exc}): rebuilding it",)
        request.say(notes[0])
        remove_entry(entry)
        decision = None
    seen = request.int8.seen() if request.int8.seen is not None else None
    if decision is not None and decision.backend == "fp32" and seen is not None:
        if decision.calibration_seen != seen:  # refused on other images: its reason may be false now
            notes = (*notes, "the calibration images changed since INT8 was refused here: deciding again")
            request.say(notes[-1])
            remove_entry(entry)
            decision = None
    if decision is not None:
        return entry, decision, notes
    from detect_cli.models.int8 import nncf_problem

    problem = nncf_problem()
    if problem:
        return entry, _fp32(f"int8 not tried: {problem}"), notes
    try:
        calibration = request.int8.calibration()
    except TooFewImages as exc:
        return entry, _fp32(f"int8 not tried: {exc}"), notes
    notes = (*notes, *calibration.passed_over)
    return entry, _decide(request, fp32, fp32_entry, fp32_decision, calibration, entry, seen=seen), notes


def _fp32(reason: str, **more: Any) -> Decision:
    return Decision(backend="fp32", reason=reason, candidates=CANDIDATES, **more)


@dataclass
class Made:
    """An INT8 model quantized and scored: its .xml, the runner opened on it, the gate's figures, and
    those of the presets tried before it."""

    xml: Path
    detector: Detector
    check: Int8Check
    preset: str
    quantize_s: float
    tried: list[dict[str, Any]]

    def figures(self, calibration: CalibrationSet) -> dict[str, Any]:
        return {
            "int8": self.check.as_dict(),
            "preset": self.preset,
            "calibration": calibration.source,
            "quantize_s": round(self.quantize_s, 2),
            "tried": self.tried,
        }


def make_int8(
    detector: Detector,
    fp32: Detector,
    source_xml: Path,
    folder: Path,
    calibration: CalibrationSet,
    options: PredictOptions,
    *,
    threads: int = 0,
    compiled: Path | None = None,
) -> Made:
    """Quantize `source_xml` (the FP32 export `fp32` runs) into `folder` on the calibration images,
    open it with attn-detect's runner (answering for `detector`) and score it on the held-out ones:
    each preset of `int8.PRESETS` in turn (fastest first) until one passes. The last one tried is
    given when none passes (its figures say why)."""
    from detect_cli.models.int8 import PRESETS, quantize
    from detect_cli.models.int8_gate import check_int8
    from detect_cli.models.openvino_direct import open_openvino

    start, tried = time.perf_counter(), []
    for preset in PRESETS:
        shutil.rmtree(folder, ignore_errors=True)
        if compiled is not None:
            shutil.rmtree(compiled, ignore_errors=True)  # only the model that is kept leaves its compiled copy
        xml = quantize(source_xml, folder, calibration.images, family=detector.ref.family, preset=preset)
        int8 = open_openvino(xml, detector, threads=threads, compiled=compiled)
        check = check_int8(fp32, int8, calibration.held_out, options, calibration.truth)
        if check.passed or preset == PRESETS[-1]:
            return Made(xml, int8, check, preset, time.perf_counter() - start, tried)
        tried.append({"preset": preset, "summary": check.summary(), "failures": check.failures()})
    raise AssertionError("unreachable: the last preset always returns")


def _decide(
    request: RuntimeRequest,
    fp32: Detector,
    fp32_entry: Path,
    fp32_decision: Decision,
    calibration: CalibrationSet,
    entry: Path,
    *,
    seen: str | None = None,
) -> Decision:
    from detect_cli.models.openvino_direct import COMPILED

    detector = request.detector
    (xml_name,) = [name for name in fp32_decision.files if name.endswith(".xml")]
    source_xml = inside(fp32_entry, xml_name)
    request.say(f"quantizing to INT8 on {calibration.source}, then checking it on the held-out images (once)…")
    entry.parent.mkdir(parents=True, exist_ok=True)
    sweep(entry.parent, ".tmp-")  # what a killed first run left
    work = Path(tempfile.mkdtemp(prefix=owned_prefix(".tmp-"), dir=entry.parent))
    measured = {"cpu": cpu_name(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        folder = work / "openvino" / source_xml.parent.name.replace("_openvino_model", "_int8_openvino_model")
        keep = True
        try:
            made = make_int8(
                detector,
                fp32,
                source_xml,
                folder,
                calibration,
                request.options,
                threads=request.threads,
                compiled=work / "openvino" / COMPILED,
            )
        except Exception as exc:  # NNCF or OpenVINO could not make or run it: FP32, and say why
            decision = _fp32(f"int8 failed ({one_line(exc, first=True)})", measured=measured)
            keep = False  # it may be this run's trouble (memory, a full disk): tried again next time
        else:
            check, checked = made.check, made.figures(calibration)
            if check.passed:
                final = entry / "openvino"
                publish(work / "openvino", final)
                decision = Decision(
                    backend="openvino",
                    precision="int8",
                    candidates=CANDIDATES,
                    path=f"openvino/{folder.name}/{made.xml.name}",
                    runner="direct",
                    reason=f"int8: {check.summary()}",
                    preset=made.preset,
                    speedup=round(check.speedup, 3),
                    f1=round(check.f1, 4),
                    files=digest_files(entry, final, request.memo),
                    checked={
                        **checked,
                        "weights_sha256": fp32_decision.checked["weights_sha256"],
                        "names": fp32_decision.checked["names"],
                        "model": fp32_decision.checked["model"],
                        "input_hw": list(made.detector.input_hw),
                        "imgsz": made.detector.native_imgsz,
                    },
                    measured=measured,
                    checked_on=calibration.source,
                )
            else:
                why = "; ".join(check.failures())
                reason = f"int8 refused: {why} ({check.summary()})"
                decision = _fp32(
                    reason, checked=checked, measured=measured, checked_on=calibration.source, calibration_seen=seen
                )
        if keep:
            write_decision(entry, decision)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return decision
