"""A cached run imports OpenVINO without its model converter, and an export later in the same process
still finds `openvino.convert_model` (fresh interpreters: the test session has imported OpenVINO)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # subprocesses that import OpenVINO

PROBE = """
import json, sys
from detect_cli.models.openvino_lean import lean_openvino
ov = lean_openvino()
core = ov.Core()
before = sorted(m for m in ("openvino.tools.ovc", "openvino_telemetry", "urllib.request") if m in sys.modules)
from openvino import convert_model
print(json.dumps({"before": before, "same": convert_model is ov.convert_model,
                  "converter": "openvino.tools.ovc" in sys.modules, "again": lean_openvino() is ov}))
"""


def test_openvino_without_its_converter_until_an_export_asks_for_it() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    facts = json.loads(done.stdout)
    assert facts == {"before": [], "same": True, "converter": True, "again": True}


def test_an_openvino_imported_before_is_used_as_it_is() -> None:
    code = "import openvino, sys; from detect_cli.models.openvino_lean import lean_openvino; "
    code += "assert lean_openvino() is openvino and 'openvino.tools.ovc' in sys.modules; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ok"
