"""What a first run decided for one cache entry, typed: `Decision`, read from and written to the
entry's decision.json with a schema version. A decision of another schema, or one with a field of the
wrong type, is not believed (`EntryMismatch`: the entry is rebuilt)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from detect_cli.models.cache_files import EntryMismatch

# 3: a decision is typed (`Decision`), says what it was checked on, and a check with too little to
# compare is no longer cached (schema 2 entries could pin PyTorch after one blank first run): rebuilt
SCHEMA = 3


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What a first run decided for one cache entry (its decision.json, versioned by SCHEMA)."""

    backend: str  # a registered runtime, or for an INT8 entry "fp32" (refused: the FP32 entry runs)
    reason: str  # for the run table: what was tried and how it went
    candidates: tuple[str, ...]  # what was tried (--backend onnx after auto decides again)
    path: str | None = None  # the export that runs, inside the entry
    runner: str | None = None  # what runs it (`runtimes`: "direct", "ultralytics")
    speedup: float | None = None  # PyTorch's time over this runtime's, at the first run
    f1: float | None = None
    files: dict[str, str] = field(default_factory=dict)  # every file it runs: its SHA-256
    checked: dict[str, Any] = field(default_factory=dict)  # what the check saw (weights, names, shapes, gate)
    measured: dict[str, str] = field(default_factory=dict)  # where and when: {"cpu", "when"}
    checked_on: str | None = None  # the images of the check ("8 of the run's images")
    precision: str = "fp32"
    preset: str | None = None  # INT8: the quantization preset that passed
    calibration_seen: str | None = None  # INT8 of a --calibration folder: what it held (a refusal then)
    cached: bool = False  # read back from the cache, not decided by this run

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "cached" and v is not None}
        return {"schema": SCHEMA, **data, "candidates": list(self.candidates)}

    @classmethod
    def from_json(cls, data: Any) -> Decision:
        """The decision in a decision.json, every field of its type; EntryMismatch (rebuild) for another
        schema or anything malformed."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise EntryMismatch("decision.json is not one this attn-detect wrote")
        fields = {
            "backend": str, "reason": str, "candidates": list, "path": str, "runner": str, "speedup": (int, float),
            "f1": (int, float), "files": dict, "checked": dict, "measured": dict, "checked_on": str,
            "precision": str, "preset": str, "calibration_seen": str,
        }  # fmt: skip
        values = {}
        for name, kind in fields.items():
            value = data.get(name)
            if value is None and name not in ("backend", "reason", "candidates"):
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise EntryMismatch(f"decision.json has no well-formed {name}")
            values[name] = value
        candidates = values.pop("candidates")
        if not all(isinstance(c, str) for c in candidates):
            raise EntryMismatch("decision.json has no well-formed candidates")
        return cls(candidates=tuple(candidates), **values)
