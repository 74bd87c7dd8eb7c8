"""Where `--backend auto` keeps what it decided, and how an entry is read back without trusting it.

    <cache>/backends/<key>/decision.json   the runtime chosen, why, and the SHA-256 of every file it runs
    <cache>/backends/<key>/<runtime>/...   the verified export
    <cache>/models/<weights sha256>.json   what a checkpoint is (names, family, size, stride): a later run
                                           knows it without loading it (see `detector.load_detector`)
    <cache>/digests.json                   the stat-keyed digest memo (`cache_files.DigestMemo`)

<cache> is ATTN_DETECT_CACHE_DIR, else ~/.cache/attn-detect (XDG_CACHE_HOME). A decision is checked
before it is believed (`load_decision`); one that fails a check is rebuilt. I/O errors (the cache dir a
file, read-only, /dev/null) are raised as OSError: the caller runs PyTorch and says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detect_cli import __version__
from detect_cli.models import runtimes
from detect_cli.models.cache_files import (
    DigestMemo,
    EntryMismatch,
    check_files,
    inside,
    listing,
    read_json,
    write_json_atomic,
)
from detect_cli.models.decision import SCHEMA, Decision

CACHE_ENV = "ATTN_DETECT_CACHE_DIR"
if TYPE_CHECKING:
    from detect_cli.models.detector import Detector

RUNTIMES = tuple(runtimes.RUNTIMES)
# what an INT8 entry may decide: the INT8 export of a runtime that quantizes, or fp32 (refused: the FP32 entry runs)
INT8_OUTCOMES = (*(name for name, r in runtimes.RUNTIMES.items() if r.quantizes), "fp32")
NO_EXPORT = (*(name for name, r in runtimes.RUNTIMES.items() if r.export_format is None), "fp32")  # run no file
RUNNERS = runtimes.runners()  # what may run an export (a runtime's own runner, or Ultralytics' wrapper)
# what a checkpoint is, as far as its results go: recorded in <cache>/models/ and in each decision
MODEL_FACTS = ("family", "names", "imgsz", "stride", "end2end")
FAMILIES = ("yolo", "rtdetr")
MAX_CLASSES, MAX_NAME, MAX_STRIDE, MAX_IMGSZ = 100_000, 1_000, 256, 16_384


def cache_dir() -> Path:
    """ATTN_DETECT_CACHE_DIR, else the XDG cache dir (~/.cache/attn-detect)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attn-detect"


def cache_root() -> Path:
    """The folder of runtime decisions, one entry per cache key."""
    return cache_dir() / "backends"


def digest_memo() -> DigestMemo:
    return DigestMemo(cache_dir() / "digests.json")


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


def cache_key(
    detector: Detector,
    imgsz: int,
    batch: int,
    memo: DigestMemo | None = None,
    *,
    precision: str = "fp32",
    calibration: str | None = None,
) -> str:
    """The entry for this model as run here; an INT8 entry also names where its calibration images
    came from (`runtime_request.Int8Request.key`)."""
    facts = {
        "weights": (memo or DigestMemo(None)).digest(Path(detector.weights_path)),
        "imgsz": imgsz,
        "batch": batch,
        "family": detector.ref.family,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "attn_detect": __version__,
        "precision": precision,
        **({"calibration": calibration} if calibration is not None else {}),
        **({"nncf": _version("nncf")} if precision == "int8" else {}),  # another NNCF quantizes differently
        "schema": SCHEMA,
        "shapes": "dynamic",  # OpenVINO exports run at each picture's own shape (entries before were static)
        **{p: _version(p) for p in ("ultralytics", *(r.package for r in runtimes.RUNTIMES.values() if r.package))},
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


def load_decision(
    entry: Path, candidates: tuple[str, ...], memo: DigestMemo, *, precision: str = "fp32"
) -> Decision | None:
    """The entry's decision if it covers these candidates and everything it runs is as verified; None
    when there is no entry. Raises EntryMismatch (rebuild it) for anything else: a damaged or foreign
    decision.json, a path leaving the entry, a file whose digest changed."""
    if not os.path.lexists(entry):
        return None
    if os.path.islink(entry) or not os.path.isdir(entry):
        raise EntryMismatch("the cache entry is not a folder")
    try:
        decision = Decision.from_json(read_json(entry / "decision.json"))
    except FileNotFoundError:
        raise EntryMismatch("decision.json is missing") from None
    if decision.candidates != tuple(candidates):
        return None  # decided for other candidates (--backend onnx after auto): decide again
    backend = decision.backend
    allowed = INT8_OUTCOMES if precision == "int8" else RUNTIMES
    if backend not in allowed:
        raise EntryMismatch(f"decision.json names an unknown runtime {backend!r}")
    if backend not in NO_EXPORT:
        if not isinstance(decision.checked.get("model"), dict):
            raise EntryMismatch("it records no facts of the model it was verified against: an older attn-detect's")
        inside(entry, decision.path)
        if decision.runner not in RUNNERS:
            raise EntryMismatch(f"decision.json names an unknown runner {decision.runner!r}")
        files = decision.files
        check_files(entry, files, memo)
        runtime = str(decision.path).split("/")[0]  # the export and what was compiled from it
        if runtime != backend:
            raise EntryMismatch(f"decision.json runs {runtime}/ for {backend}")
        recorded = {str(n) for n in files if str(n).startswith(runtime + "/")}
        present = set(listing(entry, runtimes.get(backend).folder(entry)))
        if not recorded or present != recorded:  # a runtime may read any file in its folder: no extras
            extra = sorted(present - recorded) or ["(none recorded)"]
            raise EntryMismatch(f"the export holds files that were not verified: {extra[0]}")
    return replace(decision, cached=True)


def write_decision(entry: Path, decision: Decision) -> None:
    write_json_atomic(entry / "decision.json", decision.to_json())


def model_facts_path(weights_sha256: str) -> Path:
    return cache_dir() / "models" / f"{weights_sha256}.json"


def remember_model(weights_sha256: str, facts: dict[str, Any]) -> None:
    """Record what a checkpoint is (best effort: a read-only cache only means loading it next time),
    under its digest and naming it inside (a record copied over another model's is not believed).
    What an earlier run measured and this one did not (`params_m`, `gflops` per imgsz) is kept, unless
    that record described the checkpoint otherwise (then its figures are not believed either)."""
    path = model_facts_path(weights_sha256)
    facts = {**facts, "weights_sha256": weights_sha256}
    with contextlib.suppress(OSError, EntryMismatch):
        old = read_json(path)
        same = isinstance(old, dict) and all(old.get(k) == facts.get(k) for k in MODEL_FACTS)
        measured = measured_profile(old) if same else {}
        gflops = {**measured.get("gflops", {}), **facts.get("gflops", {})}
        facts = {**measured, **facts, **({"gflops": gflops} if gflops else {})}
        if old == facts:
            return
    with contextlib.suppress(OSError):
        write_json_atomic(path, facts)


def measured_profile(facts: dict[str, Any]) -> dict[str, Any]:
    """The well-formed part of what runs measured of a checkpoint: `params_m` (millions) and `gflops`
    ({imgsz: GFLOPs at that size}); anything else in those keys is dropped."""

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e9

    out: dict[str, Any] = {}
    if number(facts.get("params_m")):
        out["params_m"] = facts["params_m"]
    gflops = facts.get("gflops")
    if isinstance(gflops, dict):
        kept = {k: v for k, v in gflops.items() if isinstance(k, str) and k.isdigit() and number(v)}
        if kept:
            out["gflops"] = kept
    return out


def known_model(weights_sha256: str) -> dict[str, Any] | None:
    """What an earlier run recorded about the checkpoint with this digest, if it is well-formed (the
    record is untrusted input: `checked_facts`); None otherwise (the checkpoint is loaded instead)."""
    try:
        facts = read_json(model_facts_path(weights_sha256))
    except (OSError, EntryMismatch):
        return None
    return checked_facts(facts, weights_sha256)


def checked_facts(facts: Any, weights_sha256: str) -> dict[str, Any] | None:
    """The record's facts if every one is of its type and in its range and they agree with each other:
    it names this digest, names are a non-empty run of class ids 0..n-1, the stride a power of two, the
    size within MAX_IMGSZ, an RT-DETR has no YOLO26 end-to-end head. None for anything else."""
    if not isinstance(facts, dict) or facts.get("weights_sha256") != weights_sha256:
        return None
    names = facts.get("names")
    if (
        facts.get("family") not in FAMILIES
        or not isinstance(names, dict)
        or not 0 < len(names) <= MAX_CLASSES
        or set(names) != {str(i) for i in range(len(names))}
        or not all(isinstance(v, str) and 0 < len(v) <= MAX_NAME for v in names.values())
    ):
        return None
    stride, imgsz = facts.get("stride"), facts.get("imgsz")
    if not _whole(stride) or stride > MAX_STRIDE or stride & (stride - 1):
        return None
    if imgsz is not None and (not _whole(imgsz) or imgsz > MAX_IMGSZ):
        return None
    if not isinstance(facts.get("end2end"), bool) or not isinstance(facts.get("trusted"), bool):
        return None
    if facts["family"] == "rtdetr" and facts["end2end"]:
        return None
    return {**{k: facts[k] for k in (*MODEL_FACTS, "trusted")}, **measured_profile(facts)}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
