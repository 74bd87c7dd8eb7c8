from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.models.detector import PredictOptions
from detect_cli.models.export import FORMATS, check_export_args, export_model, load_exported, verify
from tests.conftest import SAMPLES, TEST_IMGSZ

# Random weights give near-equal scores: compare the full top-300 sets, where ties cannot reorder much.
OPTIONS = PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=300)


@pytest.mark.parametrize(
    ("fmt", "kwargs", "message"),
    [
        ("tensorflow", {}, "choose one of onnx, torchscript"),
        ("onnx", {"half": True, "int8": True}, "exclude each other"),
        ("torchscript", {"half": True}, "needs a GPU"),
        ("onnx", {"int8": True}, "--int8 is made and checked for openvino only"),
        ("openvino", {"int8": True, "dynamic": True}, "static-shape"),
    ],
)
def test_bad_export_arguments(fmt: str, kwargs: dict, message: str) -> None:
    args = {"half": False, "int8": False, "data": None, "device": "cpu", **kwargs}
    with pytest.raises(ConfigError, match=message):
        check_export_args(fmt, **args)


def test_missing_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(ConfigError) as info:
        check_export_args("openvino", half=False, int8=False, data=None, device="cpu")
    assert 'pip install "attn-detect[openvino]"' in str(info.value)


def test_int8_without_nncf_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    with pytest.raises(ConfigError, match=r"attn-detect\[int8\]"):
        check_export_args("openvino", half=False, int8=True, data=None, device="cpu")


def test_half_on_cpu_is_fine_where_the_format_supports_it() -> None:
    assert check_export_args("onnx", half=True, int8=False, data=None, device="cpu") is FORMATS["onnx"]


@pytest.fixture(scope="module")
def images() -> list:
    return [cv2.imread(str(SAMPLES / name)) for name in ("bus.jpg", "zidane.jpg")]


@pytest.mark.parametrize("fmt", ["torchscript"])  # ONNX: checked on the trained demo model, below
def test_exported_yolo_matches_pytorch(yolo_detector, tmp_path: Path, images: list, fmt: str) -> None:
    path = export_model(yolo_detector, FORMATS[fmt], tmp_path, imgsz=TEST_IMGSZ)
    assert path.exists() and path.parent == tmp_path
    assert not (tmp_path / "yolo26n.pt").exists()  # the staged checkpoint is cleaned up
    exported = load_exported(path, "yolo", threads=1)
    assert exported.names[0] == "0" and len(exported.names) == 80  # names travel in the export's metadata
    check = verify(yolo_detector, exported, images, OPTIONS)
    assert check.agreement.count_a == check.agreement.count_b == 600
    assert check.passed, check.as_dict()
    assert check.max_conf_diff < 1e-3


def test_export_never_replaces_the_users_files(yolo_detector, tmp_path: Path) -> None:
    """The checkpoint is staged in a temporary folder; a name already taken gets `_1`."""
    users = {tmp_path / "yolo26n.pt": b"my own checkpoint", tmp_path / "yolo26n.torchscript": b"my own export"}
    for path, content in users.items():
        path.write_bytes(content)
    exported = export_model(yolo_detector, FORMATS["torchscript"], tmp_path, imgsz=TEST_IMGSZ)
    assert exported == tmp_path / "yolo26n_1.torchscript" and exported.stat().st_size > 10_000
    assert {path: path.read_bytes() for path in users} == users
    assert sorted(p.name for p in tmp_path.iterdir()) == ["yolo26n.pt", "yolo26n.torchscript", "yolo26n_1.torchscript"]


def test_a_failed_export_leaves_nothing_behind(yolo_detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detect_cli.models import export

    def refused(*args, **kwargs):
        raise ConfigError("export to onnx refused: no")

    monkeypatch.setattr(export, "_run_export", refused)
    with pytest.raises(ConfigError, match="refused"):
        export_model(yolo_detector, FORMATS["torchscript"], tmp_path / "out", imgsz=TEST_IMGSZ)
    assert list((tmp_path / "out").iterdir()) == []


def test_export_into_a_folder_under_a_file_is_a_config_error(yolo_detector, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ConfigError, match="cannot write there"):
        export_model(yolo_detector, FORMATS["torchscript"], tmp_path / "file" / "out", imgsz=TEST_IMGSZ)
    assert (tmp_path / "file").read_text() == "mine"


def test_an_export_made_on_another_file_system_is_copied_in_under_a_free_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export --int8 works in the cache: where that is another file system, rename cannot move it."""
    import errno
    import os

    from detect_cli.models import export

    made = tmp_path / "cache" / "demo_int8_openvino_model"
    made.mkdir(parents=True)
    (made / "demo.xml").write_text("<net/>")
    out = tmp_path / "out"
    (out / "demo_int8_openvino_model").mkdir(parents=True)  # the user's: never replaced
    real = os.rename

    def rename(src, dst):
        if Path(src).is_relative_to(tmp_path / "cache"):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst)

    monkeypatch.setattr(export.os, "rename", rename)
    moved = export.move_in(made, out, "_int8_openvino_model")
    assert moved == out / "demo_1_int8_openvino_model" and (moved / "demo.xml").read_text() == "<net/>"
    assert sorted(p.name for p in out.iterdir()) == ["demo_1_int8_openvino_model", "demo_int8_openvino_model"]
