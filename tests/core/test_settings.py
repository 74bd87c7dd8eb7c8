"""Settings: shipped defaults, then `--config FILE`, then flags; bad keys and values are ConfigErrors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from detect_cli.core.errors import ConfigError
from detect_cli.core.settings import DetectSettings, default_config_path, load_settings, read_config

REPO = Path(__file__).resolve().parents[2]
KEYS = [f.name for f in fields(DetectSettings)]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_shipped_yaml(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)
    assert default_config_path() == REPO / "configs" / "default.yaml"
    raw = yaml.safe_load((REPO / "configs" / "default.yaml").read_text(encoding="utf-8"))
    assert sorted(raw) == sorted(KEYS)  # every setting, nothing else
    settings = load_settings()
    data = settings.as_dict()
    assert sorted(data) == sorted(KEYS)
    for key, value in raw.items():
        assert data[key] == value, key
    assert settings.imgsz is None and isinstance(settings.conf, float)  # None: the model's own size
    assert settings.backend == "auto"


def test_backend_from_the_environment_sits_between_config_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = write_config(tmp_path, "backend: openvino\n")
    monkeypatch.setenv("ATTN_DETECT_BACKEND", "onnx")
    assert load_settings(config).backend == "onnx"
    assert load_settings(config, {"backend": "torch"}).backend == "torch"
    monkeypatch.setenv("ATTN_DETECT_BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match="ATTN_DETECT_BACKEND"):
        load_settings()


def test_config_file_overrides_a_subset(tmp_path: Path):
    config = write_config(tmp_path, "conf: 0.5\nimgsz: 320\nclasses: [person, car]\nrecursive: true\n")
    settings = load_settings(config)
    defaults = load_settings()
    assert (settings.conf, settings.imgsz, settings.classes, settings.recursive) == (0.5, 320, ("person", "car"), True)
    for key in set(KEYS) - {"conf", "imgsz", "classes", "recursive"}:
        assert getattr(settings, key) == getattr(defaults, key), key


def test_flags_override_config_and_none_flags_are_ignored(tmp_path: Path):
    config = write_config(tmp_path, "conf: 0.5\nimgsz: 320\nmodel: rtdetr-l\n")
    settings = load_settings(config, {"conf": 0.75, "imgsz": None, "model": None, "max_det": 10, "device": None})
    assert settings.conf == 0.75  # flag beats config
    assert settings.imgsz == 320 and settings.model == "rtdetr-l"  # None flags leave the config value
    assert settings.max_det == 10
    assert settings.device == load_settings().device


def test_empty_config_file_means_defaults(tmp_path: Path):
    assert load_settings(write_config(tmp_path, "# nothing here\n")) == load_settings()


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("confs", "conf"),
        ("imgsize", "imgsz"),
        ("max_dets", "max_det"),
        ("recursve", "recursive"),
        ("treads", "threads"),
    ],
)
def test_unknown_key_names_it_and_suggests_the_close_match(tmp_path: Path, key: str, suggestion: str):
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, f"{key}: 1\n"))
    err = info.value
    assert f"'{key}'" in err.message and "config.yaml" in err.message
    assert err.hint == f"did you mean '{suggestion}'?"


def test_unknown_key_without_a_close_match_lists_known_keys(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, "zzzzzz: 1\n"))
    assert "known keys:" in (info.value.hint or "") and "max_pixels" in (info.value.hint or "")


def test_unknown_flag_is_reported_as_from_the_command_line():
    with pytest.raises(ConfigError, match="unknown setting 'confd' in the command line"):
        load_settings(None, {"confd": 0.3})


@pytest.mark.parametrize(
    ("text", "key", "why"),
    [
        ("conf: 1.5", "conf", "between"),
        ("conf: -0.1", "conf", "between"),
        ("iou: 2", "iou", "between"),
        ("imgsz: 16", "imgsz", "between"),
        ("max_det: 0", "max_det", "at least"),
        ("tables: -2", "tables", "at least"),
        ("conf: high", "conf", "expected a number"),
        ("conf: .nan", "conf", "expected a number"),
        ("imgsz: .inf", "imgsz", "expected an integer"),
        ("imgsz: 320.5", "imgsz", "expected an integer"),
        ("imgsz: true", "imgsz", "expected an integer"),
        ("batch: '4'", "batch", "expected an integer"),
        ("half: maybe", "half", "expected true or false"),
        ("nms: 1", "nms", "expected true or false"),
        ("model: ''", "model", "expected text"),
        ("model: [a, b]", "model", "expected text"),
        ("device: {gpu: 0}", "device", "expected text"),
        ("classes: []", "classes", "expected a list"),
        ("classes: 5", "classes", "expected a list"),
        ("weights_dir: 3.5", "weights_dir", "expected text"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, why: str):
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, text + "\n"))
    message = str(info.value)
    assert f"'{key}'" in message and why in message and "config.yaml" in message


@pytest.mark.parametrize(
    ("flags", "label"),
    [
        ({"conf": 1.5}, "--conf"),
        ({"max_det": 0}, "--max-det"),
        ({"half": "yes"}, "--half"),
        ({"imgsz": 3.5}, "--imgsz"),
    ],
)
def test_bad_flag_values_name_the_flag(flags: dict, label: str):
    with pytest.raises(ConfigError) as info:
        load_settings(None, flags)
    assert f"bad value for {label} in the command line" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("imgsz: 320.0", {"imgsz": 320}),
        ("conf: 1", {"conf": 1.0}),
        ("conf: 0", {"conf": 0.0}),
        ("device: 0", {"device": "0"}),
        ("device: ' cuda:0 '", {"device": "cuda:0"}),
        ("weights_dir: null", {"weights_dir": None}),
        ("tables: -1", {"tables": -1}),
        ("url_max_mb: 0.5", {"url_max_mb": 0.5}),
    ],
)
def test_values_are_normalised(tmp_path: Path, text: str, expected: dict):
    settings = load_settings(write_config(tmp_path, text + "\n"))
    for key, value in expected.items():
        got = getattr(settings, key)
        assert got == value and type(got) is type(value), key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("person,car", ("person", "car")),
        (" person , car ,", ("person", "car")),
        ("0,2", ("0", "2")),
        (["person", "car"], ("person", "car")),
        ([0, 2, "dog"], ("0", "2", "dog")),
        (("bus",), ("bus",)),
        (None, None),
    ],
)
def test_classes_as_string_or_list(value, expected):
    assert load_settings(None, {"classes": value}).classes == (
        expected if value is not None else load_settings().classes
    )


def test_classes_in_config_as_string(tmp_path: Path):
    settings = load_settings(write_config(tmp_path, "classes: 'person, dog'\n"))
    assert settings.classes == ("person", "dog")
    assert settings.as_dict()["classes"] == ["person", "dog"]


@pytest.mark.parametrize("text", ["conf: [0.5\n", "a: b: c\n", "key: 'unterminated\n", "\tconf: 0.5\n"])
def test_invalid_yaml(tmp_path: Path, text: str):
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, text))
    assert "not valid YAML" in str(info.value) and "config.yaml" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["- conf\n- 0.5\n", "just a string\n", "42\n"])
def test_config_must_be_a_mapping(tmp_path: Path, text: str):
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_config(write_config(tmp_path, text))


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"cannot read config .*nope\.yaml"):
        load_settings(tmp_path / "nope.yaml")


def test_settings_are_frozen():
    settings = load_settings()
    with pytest.raises(AttributeError):
        settings.conf = 0.9  # type: ignore[misc]


def test_every_default_is_the_config_files() -> None:
    """configs/default.yaml is the one place for defaults: the settings type has none of its own, and the
    model's per-pass options default to the same values (a library user who builds them gets the CLI's)."""
    import dataclasses

    import yaml

    from detect_cli.core.settings import DetectSettings, default_config_path
    from detect_cli.models.detector import PredictOptions

    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(DetectSettings))
    defaults = yaml.safe_load(default_config_path().read_text(encoding="utf-8"))
    assert set(defaults) == {f.name for f in dataclasses.fields(DetectSettings)}
    options = PredictOptions()
    assert (options.conf, options.iou, options.max_det, options.nms, options.letterbox) == (
        defaults["conf"],
        defaults["iou"],
        defaults["max_det"],
        defaults["nms"],
        defaults["letterbox"],
    )


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_int8_runs_on_openvino_only_and_says_where_the_backend_came_from(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)
    with pytest.raises(ConfigError, match=rf"int8 runs on OpenVINO, not {backend} \(--backend {backend}\)"):
        load_settings(None, {"precision": "int8", "backend": backend})
    config = tmp_path / "c.yaml"
    config.write_text(f"precision: int8\nbackend: {backend}\n")
    with pytest.raises(ConfigError, match=rf"not {backend} \(backend: {backend} in .*c\.yaml\)"):
        load_settings(config)
    monkeypatch.setenv("ATTN_DETECT_BACKEND", backend)
    with pytest.raises(ConfigError, match=rf"\(\$ATTN_DETECT_BACKEND={backend}\)"):
        load_settings(None, {"precision": "int8"})
    assert load_settings(None, {"precision": "int8", "backend": "openvino"}).precision == "int8"


def test_precision_and_calibration_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad value for --precision.*expected one of fp32, int8"):
        load_settings(None, {"precision": "int4"})
    int8 = {"precision": "int8", "backend": "openvino"}  # conftest sets ATTN_DETECT_BACKEND=torch
    with pytest.raises(ConfigError, match=r"--calibration .*nope: no such file or folder"):
        load_settings(None, {**int8, "calibration": str(tmp_path / "nope")})
    assert load_settings(None, {**int8, "calibration": str(tmp_path / "*.jpg")}).calibration.endswith("*.jpg")  # a glob
    with pytest.raises(ConfigError, match=r"--calibration .*jpg is for --precision int8, and this run is fp32"):
        load_settings(None, {"calibration": str(tmp_path / "*.jpg")})  # never silently unused
    config = tmp_path / "c.yaml"
    config.write_text(f"calibration: {tmp_path}\n")  # a config's is kept for the runs that ask for int8
    assert load_settings(config).calibration == str(tmp_path)
    assert load_settings(None, {}).precision == "fp32"


@pytest.mark.parametrize(
    ("value", "conf", "class_conf"),
    [
        ("0.3,circle=0.8", 0.3, {"circle": 0.8}),
        ("circle=0.8, star = 0.1", 0.25, {"circle": 0.8, "star": 0.1}),  # the default stays the config's
        ("0.4", 0.4, None),
        (0.5, 0.5, None),
        ("default=0.2,2=0.9", 0.2, {"2": 0.9}),
        ("0.3,person bag=0.6", 0.3, {"person bag": 0.6}),
    ],
)
def test_per_class_conf_from_the_flag(value, conf: float, class_conf: dict | None) -> None:
    settings = load_settings(None, {"conf": value})
    assert settings.conf == conf and settings.as_dict()["class_conf"] == class_conf


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0.3,circle=1.5", "between 0.0 and 1.0"),
        ("0.3,circle=high", "expected a number, got 'high'"),
        ("0.3,=0.5", "class name is missing"),
        ("0.3,circle=0.5,circle=0.6", "given twice"),
        ("0.3,0.4", "two default"),
        (" , ", "expected a number"),
    ],
)
def test_bad_per_class_conf_says_what_is_wrong(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match="--conf") as caught:
        load_settings(None, {"conf": value})
    assert why in str(caught.value)


def test_per_class_conf_in_a_config_file_and_a_plain_flag_replacing_it(tmp_path: Path) -> None:
    as_text = write_config(tmp_path, 'conf: "0.3,circle=0.8"\n')
    assert load_settings(as_text).class_thresholds() == {"circle": 0.8}
    as_mapping = tmp_path / "m.yaml"
    as_mapping.write_text("conf: 0.3\nclass_conf: {circle: 0.8, star: 0.2}\n", encoding="utf-8")
    settings = load_settings(as_mapping)
    assert settings.conf == 0.3 and settings.class_thresholds() == {"circle": 0.8, "star": 0.2}
    assert load_settings(as_mapping, {"conf": 0.5}).class_thresholds() == {}  # --conf 0.5: one threshold for all
    bad = write_config(tmp_path, "class_conf: [circle]\n")
    with pytest.raises(ConfigError, match="'class_conf'"):
        load_settings(bad)


@pytest.mark.parametrize(
    ("flags", "label"),
    [
        ({"redact_style": "smudge"}, "--redact-style"),
        ({"line_width": 0}, "--line-width"),
        ({"show": "yes"}, "--show"),
    ],
)
def test_picture_settings_are_checked(flags: dict, label: str) -> None:
    with pytest.raises(ConfigError, match=label):
        load_settings(None, flags)
