"""A model's first run on `--backend auto`: export each candidate runtime, check it against PyTorch,
time both, and write the decision (with the digest of every file it runs) into the cache.

The check is of what will run: for OpenVINO, our own torch-free adapter (`openvino_direct`) first;
if it cannot run the export or its boxes differ, Ultralytics' wrapper of the same export is checked
instead, and the decision says why the adapter was not used.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from detect_cli.core.errors import one_line
from detect_cli.models import runtimes
from detect_cli.models.cache_files import digest_files, owned_prefix, publish, sweep
from detect_cli.models.check_images import CHECK_IMAGES, CheckImages
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.runtime_cache import Decision, cpu_name, write_decision
from detect_cli.models.runtime_request import RuntimeRequest

GATE = {"min_f1": 0.99, "max_conf_diff": 0.05, "iou": 0.9, "margin": 0.05, "conf": 0.25}
WEAK = {"conf": 0.05, "margin": 0.02}  # the check of a model that finds few boxes at GATE's conf
MIN_GAIN = 1.05  # a runtime must beat PyTorch by 5% to be worth a second file format
MIN_BOXES = 5  # a check that compares fewer boxes proves nothing (a random-weight model finds none)
GOOD_ENOUGH = 1.2  # OpenVINO at least this much faster: don't spend the time to try ONNX Runtime too


def decide(request: RuntimeRequest, candidates: tuple[str, ...], entry: Path, *, forced: bool) -> Decision:
    """Export, verify on the run's check images (`request.check`) and time each candidate; write the
    decision (and winning export) to the cache. A check with too little to compare (fewer than
    MIN_BOXES boxes), a refusal on images not of the model's kind (`CheckImages.own` false), or "not
    faster" timed on fewer than CHECK_IMAGES pictures, is not written: the next run tries again.
    Raises OSError when the cache cannot be written (the caller runs PyTorch)."""
    detector, options = request.detector, request.options
    check = request.check(detector)
    images = check.images
    check_options = PredictOptions(conf=GATE["conf"], imgsz=options.imgsz, max_det=options.max_det)
    reference = Replayed(detector, images, check_options)
    tried: list[str] = []
    found = sum(len(dets) for dets, _ in reference.predict(images, replace(check_options, conf=WEAK["conf"])))
    to_try = candidates
    lasting = check.own  # a refusal on someone else's photos says little about the user's pictures
    if found < MIN_BOXES:  # nothing to compare an export with (a random-weight model finds nothing): don't export
        to_try, lasting = (), False
        tried.append(f"not verifiable: PyTorch finds {found} boxes on {check.source} (fewer than {MIN_BOXES})")
    best: dict[str, Any] | None = None
    entry.parent.mkdir(parents=True, exist_ok=True)
    sweep(entry.parent, ".tmp-")  # what a killed first run left
    work = Path(tempfile.mkdtemp(prefix=owned_prefix(".tmp-"), dir=entry.parent))
    measured = {"cpu": cpu_name(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        for runtime in to_try:
            if not runtimes.get(runtime).usable():
                tried.append(f"{runtime}: not installed")
                continue
            request.say(f"preparing a faster runtime: exporting to {runtime} and checking it against PyTorch (once)…")
            outcome = try_runtime(detector, reference, runtime, check, check_options, work, request.threads)
            lasting = lasting and not outcome.get("too_few")
            if outcome["passed"] and outcome["speedup"] < MIN_GAIN and len(images) < CHECK_IMAGES:
                lasting = False  # "not faster" timed on a picture or two of a busy machine says little
            tried.append(outcome["summary"])
            if outcome["passed"] and (forced or outcome["speedup"] >= MIN_GAIN):
                if best is None or outcome["speedup"] > best["speedup"]:
                    best = outcome
            if best and best["speedup"] >= GOOD_ENOUGH:
                break
        if best is None:
            reason = "; ".join(tried) or "no runtime to try"
            decision = Decision(
                backend="torch", reason=reason, candidates=candidates, measured=measured, checked_on=check.source
            )
        else:
            publish(work / best["runtime"], entry / best["runtime"])
            decision = Decision(
                backend=best["runtime"],
                reason=best["summary"],
                candidates=candidates,
                path=best["runtime"] + "/" + best["file"],
                runner=best["runner"],
                speedup=best["speedup"],
                f1=best["f1"],
                files=digest_files(entry, entry / best["runtime"], request.memo),
                checked={**best["checked"], "weights_sha256": request.weights},
                measured=measured,
                checked_on=check.source,
            )
        if best is not None or lasting:
            write_decision(entry, decision)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return decision


class Replayed:
    """PyTorch's boxes on the check images, run once at the lowest confidence any check asks for and
    filtered for each (score > conf, as Ultralytics filters: a lower threshold only adds rows, and the
    heads give them in score order), with its warm time per image. The first run then predicts each
    check image once with PyTorch instead of four times."""

    def __init__(self, detector: Detector, images: list, options: PredictOptions) -> None:
        floor = replace(options, conf=min(WEAK["conf"] - WEAK["margin"], GATE["conf"] - GATE["margin"]))
        detector.predict(images[:1], floor)  # warm-up, as every runtime gets
        self._boxes, times = {}, []
        for image in images:
            start = time.perf_counter()
            ((dets, timing),) = detector.predict([image], floor)
            times.append((time.perf_counter() - start) * 1e3)
            self._boxes[id(image)] = (dets, timing)
        self.floor, self.ms = floor.conf, statistics.median(times)

    def predict(self, images: list, options: PredictOptions) -> list:
        if options.conf < self.floor:
            raise ValueError(f"replayed at conf {self.floor}, asked for {options.conf}")
        return [(dets[dets.confidence > options.conf], timing) for dets, timing in (self._boxes[id(i)] for i in images)]


def try_runtime(
    detector: Detector,
    reference: Replayed,
    runtime: str,
    check: CheckImages,
    options: PredictOptions,
    work: Path,
    threads: int,
) -> dict[str, Any]:
    """Export to `runtime` in `work`, and check and time what would run it against PyTorch's boxes
    (`reference`). Gives a dict with `passed`, `summary` (for the run table), and for a pass
    `speedup`, `f1`, `runner`, `file`, `checked`."""
    images = check.images
    kind = runtimes.get(runtime)
    failed = {"runtime": runtime, "passed": False, "speedup": 0.0}
    try:
        path = kind.export(detector, work / runtime, options.imgsz)
    except Exception as exc:  # any failure means: not this runtime
        return {**failed, "summary": f"{runtime}: export failed ({one_line(exc, first=True)})"}
    not_best = None
    loaders = kind.loaders(detector, path, threads)
    for runner, load in loaders:
        try:
            exported = load()
            verified = _gate(reference, exported, images, options)
        except Exception as exc:
            why = one_line(exc, first=True)
        else:
            if verified.agreement.count_a < MIN_BOXES:
                found = verified.agreement.count_a
                return {
                    **failed,
                    "too_few": True,
                    "summary": f"{runtime}: not verified (PyTorch finds {found} boxes on {check.source}, "
                    "too few to compare)",
                }
            if verified.passed:
                ran = (runtime, runner, path, work)
                return _passed(detector, exported, ran, verified, check, reference.ms, not_best)
            why = (
                f"not the same boxes (F1 {verified.f1:.3f}, confidence off by up to "
                f"{verified.max_conf_diff:.3f}) on {check.source}"
            )
        if runner != loaders[-1][0]:
            kind.discard_compiled(path)  # compiled for a runner that will not run
            not_best = why
            continue
        return {**failed, "summary": f"{runtime}: {why}"}
    raise AssertionError("unreachable: the last runner always returns")


def _gate(reference: Replayed, exported: Detector, images: list, options: PredictOptions) -> Any:
    from detect_cli.models.export import verify

    gate = {k: GATE[k] for k in ("min_f1", "max_conf_diff", "iou", "margin")}
    check = verify(reference, exported, images, options, **gate)  # type: ignore[arg-type]
    if check.agreement.count_a < MIN_BOXES:  # too few boxes to prove anything: compare the weak ones too
        check = verify(
            reference,
            exported,
            images,
            replace(options, conf=WEAK["conf"]),  # type: ignore[arg-type]
            **{**gate, "margin": WEAK["margin"]},
        )
    return check


def _passed(
    detector: Detector,
    exported: Detector,
    ran: tuple[str, str, Path, Path],
    check: Any,
    images: CheckImages,
    torch_ms: float,
    not_direct: str | None,
) -> dict[str, Any]:
    """A passed check: the speed-up is PyTorch's warm time per image (measured before any other runtime
    was loaded) over this runtime's in the check (each after a warm-up, with its own threads). `ran`:
    the runtime, its runner, the export and the work folder it is in."""
    runtime, runner, path, work = ran
    speedup = torch_ms / max(check.ms_exported, 1e-6)
    summary = f"{runtime}: verified F1 {check.f1:.3f} on {images.source}, {speedup:.1f}x torch here"
    if not_direct:
        summary += f" (through Ultralytics; attn-detect's own runner: {not_direct})"
    from detect_cli.models.known_models import core_facts

    checked = {
        "names": {str(k): v for k, v in detector.names.items()},
        "model": core_facts(detector),  # the loaded checkpoint's (it ran the check): what a later run must be
        "imgsz": exported.native_imgsz,
        "input_hw": list(getattr(exported, "input_hw", ()) or ()),
        "runner": runner,
        "f1": round(check.f1, 4),
        "max_conf_diff": round(check.max_conf_diff, 5),
        "boxes": check.agreement.count_a,
        "images": images.source,
        "gate": GATE,
    }
    return {
        "runtime": runtime,
        "passed": True,
        "speedup": speedup,
        "f1": check.f1,
        "runner": runner,
        "file": path.relative_to(work / runtime).as_posix(),
        "summary": summary,
        "checked": checked,
    }
