"""A cache decision is typed and versioned: written and read back the same, anything else refused."""

from __future__ import annotations

import pytest

from detect_cli.models.cache_files import EntryMismatch
from detect_cli.models.decision import SCHEMA, Decision

PASSED = Decision(
    backend="openvino",
    reason="openvino: verified F1 1.000 on 8 of the run's images, 2.0x torch here",
    candidates=("openvino", "onnx"),
    path="openvino/demo_openvino_model/demo.xml",
    runner="direct",
    speedup=2.0,
    f1=1.0,
    files={"openvino/demo_openvino_model/demo.xml": "ab" * 32},
    checked={"weights_sha256": "cd" * 32, "input_hw": [320, 320]},
    measured={"cpu": "AMD EPYC", "when": "2026-12-07 22:00:00"},
    checked_on="8 of the run's images",
)


def test_a_decision_reads_back_as_written() -> None:
    data = PASSED.to_json()
    assert data["schema"] == SCHEMA and data["candidates"] == ["openvino", "onnx"] and "cached" not in data
    assert Decision.from_json(data) == PASSED
    refused = Decision(backend="torch", reason="openvino: not the same boxes", candidates=("openvino",))
    assert Decision.from_json(refused.to_json()) == refused and "path" not in refused.to_json()


@pytest.mark.parametrize(
    "change",
    [
        {"schema": SCHEMA - 1},  # an older attn-detect's: rebuilt, never half-read
        {"schema": None},
        {"backend": 3},
        {"reason": None},
        {"candidates": "openvino"},
        {"candidates": [1]},
        {"speedup": "fast"},
        {"speedup": True},
        {"files": ["demo.xml"]},
        {"checked": "yes"},
    ],
    ids=repr,
)
def test_a_decision_of_another_schema_or_shape_is_refused(change: dict) -> None:
    data = {**PASSED.to_json(), **change}
    with pytest.raises(EntryMismatch):
        Decision.from_json(data)
    with pytest.raises(EntryMismatch):
        Decision.from_json([data])
