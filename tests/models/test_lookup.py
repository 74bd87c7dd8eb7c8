"""Finding a model (weights.py): lookup order, downloads, names, family sniffing."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from detect_cli.core.errors import ModelLoadError
from detect_cli.models import lookup as weights
from detect_cli.models.lookup import resolve_model, sniff_family, weights_dirs


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

    monkeypatch.setattr(weights, "download_weights", fail)
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
        ultra = weights.ultralytics_weights_dir()
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
        monkeypatch.delenv("YOLO_OFFLINE")  # the downloader is a fake here

        def download(name: str, target: Path) -> Path:
            return fake_checkpoint(target / name, b"RTDETRDetectionModel")

        monkeypatch.setattr(weights, "download_weights", download)
        ref = resolve_model("rtdetr-l", [tmp_path / "w"])
        assert Path(ref.path) == tmp_path / "w" / "rtdetr-l.pt"
        assert ref.family == "rtdetr"

    def test_offline_error_names_file_url_and_folder(self, tmp_path: Path, offline: list, monkeypatch) -> None:
        monkeypatch.delenv("YOLO_OFFLINE")  # a download is tried, and fails
        with pytest.raises(ModelLoadError) as info:
            resolve_model("yolo26m", [tmp_path / "w"])
        text = str(info.value)
        assert "yolo26m.pt" in text
        assert "https://github.com/ultralytics/assets/releases/download/" in text
        assert str(tmp_path / "w") in text
        assert offline == [("yolo26m.pt", tmp_path / "w")]
        assert info.value.exit_code == 4


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_yolo_offline_means_no_download_is_tried(tmp_path: Path, offline: list, monkeypatch, value: str) -> None:
    """Ultralytics' downloader would ask GitHub first (two "assets check failure" warnings): not one call."""
    monkeypatch.setenv("YOLO_OFFLINE", value)
    with pytest.raises(ModelLoadError, match="YOLO_OFFLINE is set, so no download was tried") as info:
        resolve_model("yolo26l", [tmp_path / "w"])
    assert offline == [] and "yolo26l.pt" in str(info.value) and not (tmp_path / "w").exists()


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
        resolve_model(str(bad))


def test_a_missing_alias_leaves_no_empty_weights_folder(tmp_path: Path) -> None:
    """The real (offline) download path: nothing may be left in the user's working directory."""
    before = set(Path.cwd().iterdir())
    with pytest.raises(ModelLoadError, match=r"yolo26x\.pt"):
        resolve_model("yolo26x", [tmp_path / "not-yet"])
    assert set(Path.cwd().iterdir()) == before and not (tmp_path / "not-yet").exists()


def test_a_missing_packaged_model_says_how_to_get_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The training recipes are not in the wheel: the hint must work for an installed copy too."""
    monkeypatch.setattr(weights, "PACKAGED_DIR", tmp_path)
    with pytest.raises(ModelLoadError, match=r"'demo-rtdetr' model is not in this install") as info:
        resolve_model("demo-rtdetr")
    assert "reinstall attn-detect" in str(info.value) and "detect_cli.demo.train_rtdetr" in str(info.value)


def test_aliases_are_found_in_ultralytics_weights_dir_without_importing_it(tmp_path: Path) -> None:
    """Ultralytics' settings file is plain JSON: its weights_dir is read, Ultralytics (and torch) stay unloaded."""
    import json
    import os
    import subprocess
    import sys

    config = tmp_path / "config"
    (config / "Ultralytics").mkdir(parents=True)
    (config / "Ultralytics" / "settings.json").write_text(json.dumps({"weights_dir": str(tmp_path / "w")}))
    ckpt = fake_checkpoint(tmp_path / "w" / "yolo26s.pt")
    code = (
        "import sys; from detect_cli.models.lookup import resolve_model; ref = resolve_model('yolo26s');"
        "print(ref.path, ref.family, 'ultralytics' in sys.modules, 'torch' in sys.modules)"
    )
    env = {**os.environ, "YOLO_CONFIG_DIR": str(config)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == [str(ckpt), "yolo", "False", "False"]


def test_the_weights_dir_read_from_json_is_the_one_ultralytics_uses() -> None:
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()  # writes its settings file (in the test session's fresh config dir) if there is none
    from ultralytics.utils import SETTINGS

    assert weights.ultralytics_weights_dir() == Path(SETTINGS["weights_dir"]).resolve()
