"""Test-wide setup: offline, a fresh Ultralytics config dir (as on a new user's machine),
and small models built from YAML (random weights, right shapes) shared per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.http_server import http_server  # noqa: F401  (a fixture for every test module)

_CONFIG_DIR = tempfile.mkdtemp(prefix="attn-detect-yolo-config-")
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_CONFIG_DIR"] = _CONFIG_DIR
os.environ.pop("ATTN_DETECT_WEIGHTS_DIR", None)
# one runtime cache for the session: the first `--backend auto` run of a model exports it, later ones reuse it
os.environ["ATTN_DETECT_CACHE_DIR"] = os.path.join(_CONFIG_DIR, "cache")
# Most tests run random-weight checkpoints, whose exports would cost minutes and prove nothing: they
# run PyTorch. The default (auto) path is tested where it means something: test_backends.py, the
# demo-model tests and the CLI tests that unset this.
os.environ["ATTN_DETECT_BACKEND"] = "torch"

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_images"
TEST_IMGSZ = 160


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.delenv("ATTN_DETECT_WEIGHTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # Ultralytics' weights dir is relative to the working directory


@pytest.fixture(scope="session")
def yolo_detector():
    from detect_cli.models import load_detector, resolve_model

    return load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=1)


@pytest.fixture(scope="session")
def rtdetr_detector():
    from detect_cli.models import load_detector, resolve_model

    return load_detector(resolve_model("rtdetr-l.yaml"), device="cpu", threads=1)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real Ultralytics .pt checkpoints (random weights) saved from the YAML models."""
    from detect_cli.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics import RTDETR, YOLO

    folder = tmp_path_factory.mktemp("ckpt")
    paths = {"yolo": folder / "tiny-yolo.pt", "rtdetr": folder / "tiny-rtdetr.pt"}
    YOLO("yolo26n.yaml").save(paths["yolo"])
    RTDETR("rtdetr-l.yaml").save(paths["rtdetr"])
    return paths


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two real photos, a duplicate name in a sub-folder, and some bad inputs."""
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "bus.jpg", folder / "bus.jpg")
    shutil.copy(SAMPLES / "zidane.jpg", folder / "sub" / "bus.jpg")
    return folder


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_CONFIG_DIR, ignore_errors=True)
