from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from detect_cli import models
from detect_cli.errors import ConfigError, ModelLoadError
from detect_cli.models import PredictOptions, load_detector, resolve_model, sniff_family, weights_dirs
from tests.conftest import SAMPLES, TEST_IMGSZ


def fake_checkpoint(path: Path, class_name: bytes = b"DetectionModel") -> Path:
    """A zip laid out like torch.save output; enough for family sniffing, not for loading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{path.stem}/data.pkl", b"\x80\x02cultralytics.nn.tasks\n" + class_name + b"\nq\x00.")
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Replace the Ultralytics download with one that fails as it does offline; record calls."""
    calls: list[tuple[str, Path]] = []

    def fail(name: str, target: Path) -> Path:
        calls.append((name, target))
        raise ConnectionError("offline")

    monkeypatch.setattr(models, "download_weights", fail)
    return calls


class TestWeightsLookup:
    def test_explicit_path_wins(self, tmp_path: Path, offline: list) -> None:
        ckpt = fake_checkpoint(tmp_path / "mine" / "yolo26n.pt")
        fake_checkpoint(tmp_path / "dir" / "yolo26n.pt")
        ref = resolve_model(str(ckpt), [tmp_path / "dir"])
        assert Path(ref.path) == ckpt and ref.kind == "weights"
        assert offline == []

    def test_order_option_env_config_then_ultralytics_dir(self, tmp_path: Path, monkeypatch, offline: list) -> None:
        option, env, config = tmp_path / "opt", tmp_path / "env", tmp_path / "cfg"
        monkeypatch.setenv("ATTN_DETECT_WEIGHTS_DIR", str(env))
        dirs = weights_dirs(option, config)
        assert dirs == [option, env, config]
        ultra = models.ultralytics_weights_dir()
        fake_checkpoint(ultra / "yolo26s.pt")
        try:
            assert Path(resolve_model("yolo26s", dirs).path) == ultra / "yolo26s.pt"
            for folder in (config, env, option):  # each earlier folder takes over
                fake_checkpoint(folder / "yolo26s.pt")
                assert Path(resolve_model("yolo26s", dirs).path) == folder / "yolo26s.pt"
        finally:
            shutil.rmtree(ultra, ignore_errors=True)
        assert offline == []

    def test_download_is_tried_into_first_dir(self, tmp_path: Path, monkeypatch) -> None:
        def download(name: str, target: Path) -> Path:
            return fake_checkpoint(target / name, b"RTDETRDetectionModel")

        monkeypatch.setattr(models, "download_weights", download)
        ref = resolve_model("rtdetr-l", [tmp_path / "w"])
        assert Path(ref.path) == tmp_path / "w" / "rtdetr-l.pt"
        assert ref.family == "rtdetr"

    def test_offline_error_names_file_url_and_folder(self, tmp_path: Path, offline: list) -> None:
        with pytest.raises(ModelLoadError) as info:
            resolve_model("yolo26m", [tmp_path / "w"])
        text = str(info.value)
        assert "yolo26m.pt" in text
        assert "https://github.com/ultralytics/assets/releases/download/" in text
        assert str(tmp_path / "w") in text
        assert offline == [("yolo26m.pt", tmp_path / "w")]
        assert info.value.exit_code == 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("yolo26", "did you mean .*yolo26n"),
        ("no/such/model.pt", "model file not found"),
    ],
)
def test_bad_model_names(spec: str, message: str, offline: list) -> None:
    with pytest.raises(ModelLoadError, match=message):
        resolve_model(spec)


def test_family_sniffed_from_checkpoint_not_name(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    renamed = tmp_path / "model.pt"
    shutil.copy(checkpoints["rtdetr"], renamed)
    assert sniff_family(renamed) == "rtdetr"
    assert sniff_family(checkpoints["yolo"]) == "yolo"


def test_corrupt_checkpoint_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_detector(resolve_model(str(bad)))


def test_truncated_checkpoint_is_a_model_error(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(checkpoints["yolo"].read_bytes()[:200_000])
    with pytest.raises(ModelLoadError):
        load_detector(resolve_model(str(cut)))


def test_checkpoint_loads_with_right_family(checkpoints: dict[str, Path]) -> None:
    detector = load_detector(resolve_model(str(checkpoints["rtdetr"])), device="cpu")
    assert detector.ref.family == "rtdetr" and type(detector._model).__name__ == "RTDETR"
    assert not detector.runs_nms(PredictOptions(nms=True))


def test_yaml_model_warns_random_weights(yolo_detector) -> None:
    assert any("RANDOM" in n for n in yolo_detector.notes)


def test_yolo26_defaults_to_nms_free_head(yolo_detector) -> None:
    assert yolo_detector.end2end_capable
    assert not yolo_detector.runs_nms(PredictOptions())
    assert yolo_detector.runs_nms(PredictOptions(nms=True))


def test_nms_flag_switches_the_head(yolo_detector) -> None:
    import cv2

    image = cv2.imread(str(SAMPLES / "bus.jpg"))
    free = yolo_detector.predict([image], PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=50))[0][0]
    assert yolo_detector._model.predictor.model.end2end is True
    nms = yolo_detector.predict([image], PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=50, nms=True))[0][0]
    assert yolo_detector._model.predictor.model.end2end is False
    assert len(free) == 50 and len(nms) <= 50
    assert free != nms


def test_predict_returns_our_types_in_original_pixels(yolo_detector) -> None:
    import cv2

    from detect_cli.detections import Detections

    image = cv2.imread(str(SAMPLES / "bus.jpg"))
    ((dets, timing),) = yolo_detector.predict([image], PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=20))
    assert isinstance(dets, Detections) and len(dets) == 20
    assert isinstance(dets.xyxy, np.ndarray)
    height, width = image.shape[:2]
    assert dets.xyxy[:, [0, 2]].max() <= width + 1 and dets.xyxy[:, [1, 3]].max() <= height + 1
    assert timing.inference > 0


def test_uses_all_cores_after_predict() -> None:
    """Ultralytics' select_device would reset torch to cpu_count-1 threads at predictor set-up."""
    import torch

    detector = load_detector(resolve_model("yolo26n.yaml"), device="cpu")
    try:
        detector.predict([np.zeros((64, 64, 3), np.uint8)], PredictOptions(imgsz=64))
        assert torch.get_num_threads() == os.cpu_count()
    finally:
        load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=1)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(["person", "bus"], (0, 5)), (["5"], (5,)), (["BUS", "bus"], (5,))],
)
def test_class_ids(yolo_detector, wanted: list[str], expected: tuple[int, ...]) -> None:
    assert yolo_detector.class_ids(wanted) == expected


def test_unknown_class_lists_close_matches(yolo_detector) -> None:
    with pytest.raises(ConfigError, match=r"did you mean.*person"):
        yolo_detector.class_ids(["persn"])
