"""Test-wide setup: offline, a fresh Ultralytics config dir (as on a new user's machine),
and small models built from YAML (random weights, right shapes) shared per session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
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
def _torch_threads_kept() -> Iterator[None]:
    """Loading a model sets torch's thread count for the process (as a run should); a test must not
    leave it changed for the next, whose results (bit for bit) or timings would depend on order."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else os.cpu_count() or 1
    yield
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.delenv("ATTN_DETECT_WEIGHTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # Ultralytics' weights dir is relative to the working directory


@pytest.fixture(scope="session")
def yolo_detector():
    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model

    return load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=1)


@pytest.fixture(scope="session")
def rtdetr_detector():
    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model

    return load_detector(resolve_model("rtdetr-l.yaml"), device="cpu", threads=1)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real Ultralytics .pt checkpoints (random weights) saved from the YAML models."""
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics import RTDETR, YOLO

    folder = tmp_path_factory.mktemp("ckpt")
    paths = {"yolo": folder / "tiny-yolo.pt", "rtdetr": folder / "tiny-rtdetr.pt"}
    YOLO("yolo26n.yaml").save(paths["yolo"])
    RTDETR("rtdetr-l.yaml").save(paths["rtdetr"])
    return paths


def any_speed_gain(patch: pytest.MonkeyPatch) -> None:
    """For tests about what is exported, verified and cached, not about speed: on a loaded machine a
    first run may time OpenVINO at 1.0x torch (kept out) or under 1.2x (ONNX Runtime tried, and maybe
    faster). With this OpenVINO passes and ONNX Runtime is not tried."""
    from detect_cli.models import runtime_trial

    patch.setattr(runtime_trial, "MIN_GAIN", 0.0)
    patch.setattr(runtime_trial, "GOOD_ENOUGH", 0.0)


@pytest.fixture(scope="session")
def demo_export_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime cache with the demo model's verified OpenVINO entry (imgsz 320, batch 1, our own
    runner), built once per session (per pytest-xdist worker): an export and its check cost seconds
    each, so the tests whose subject is not the first run start from a copy of it (`demo_cache`)."""
    import torch

    from detect_cli.models import runtime
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.lookup import resolve_model

    cache = tmp_path_factory.mktemp("demo-export") / "cache"
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        any_speed_gain(patch)
        patch.setenv("ATTN_DETECT_CACHE_DIR", str(cache))
        demo = load_detector(resolve_model("demo"), device="cpu")
        _, choice = runtime.choose_backend(demo, "auto", PredictOptions(imgsz=320))
    torch.set_num_threads(threads)  # as the test that asked first found them
    assert choice.backend == "openvino" and choice.runner == "direct", choice
    return cache


@pytest.fixture
def demo_cache(demo_export_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of `demo_export_cache` (it may damage it), as $ATTN_DETECT_CACHE_DIR."""
    copy = tmp_path / "cache"
    shutil.copytree(demo_export_cache, copy, symlinks=True)
    monkeypatch.setenv("ATTN_DETECT_CACHE_DIR", str(copy))
    return copy


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two real photos, a duplicate name in a sub-folder, and some bad inputs."""
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "bus.jpg", folder / "bus.jpg")
    shutil.copy(SAMPLES / "zidane.jpg", folder / "sub" / "bus.jpg")
    return folder


# The fast subset for daily work (`pytest -m "not slow"`, under a minute on 2 cores) leaves out
# every test that builds or runs a model, starts Ray or a subprocess, or exports.
SLOW_FIXTURES = frozenset(
    {"yolo_detector", "rtdetr_detector", "checkpoints", "demo", "local_ray", "demo_export_cache", "demo_cache"}
)
SLOW_MODULES = frozenset(
    {
        "test_ray",
        "test_resume",
        "test_export",
        "test_runtime",
        "test_demo_models",
        "test_readme",
        "test_compare",
        "test_first_run",
        "test_hostile_inputs",
        "test_hostile_outputs",
        "test_detect",
        "test_attention_cli",
        "test_evaluate_cli",
        "test_looks",
        "test_compare_cli",
        "test_export_cli",
        "test_output_everywhere",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_CONFIG_DIR, ignore_errors=True)
