"""The installed package is typed: `py.typed` ships in the wheel beside the API it marks."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_the_package_says_it_is_typed() -> None:
    assert (REPO / "detect_cli" / "py.typed").is_file()


@pytest.mark.slow
def test_the_wheel_holds_py_typed_and_the_api(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")  # the build backend (pyproject.toml); offline, no isolated build
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"detect_cli/py.typed", "detect_cli/api/model.py", "detect_cli/tasks/plan.py"} <= names
