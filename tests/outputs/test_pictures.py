"""outputs/pictures.py: what a result's picture becomes (styles, redaction, crops) from the settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.core.settings import load_settings
from detect_cli.outputs.pictures import REDACTED, Pictures, check_pictures

NAMES = {0: "circle", 1: "square"}


def class_ids(names, flag="--classes"):  # type: ignore[no-untyped-def]
    by_name = {v: k for k, v in NAMES.items()}
    if any(n not in by_name for n in names):
        raise ConfigError(f"{flag}: unknown class")
    return tuple(by_name[n] for n in names)


def scene() -> tuple[np.ndarray, ImageResult]:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)  # 16:9
    dets = Detections(np.array([[20, 30, 90, 100], [150, 40, 260, 150]]), np.array([0.9, 0.8]), np.array([0, 1]))
    return image, ImageResult("a.png", 0, dets, NAMES, 320, 180, name="a.png", image=image)


def pictures(**settings) -> Pictures:  # type: ignore[no-untyped-def]
    return Pictures.from_settings(load_settings(None, settings), class_ids)


def test_redacted_boxes_are_marked_hidden_and_the_rest_is_the_plain_picture() -> None:
    image, result = scene()
    plain = pictures().draw(image, result)
    redacting = pictures(redact="circle", redact_style="fill")
    marked = redacting.mark(result)
    assert marked.detections.extra[REDACTED].tolist() == [True, False]
    hidden = redacting.draw(image, marked)
    outside = np.ones(image.shape[:2], bool)
    outside[30:100, 20:90] = False
    assert np.array_equal(hidden[outside], plain[outside]) and hidden[30:100, 20:90].std() == 0
    assert "redacted" not in pictures().mark(result).detections.extra


def test_styles_reach_the_annotator() -> None:
    image, result = scene()
    bare = pictures(hide_boxes=True).draw(image, result)
    assert np.array_equal(bare, image)
    thin, thick = pictures(line_width=1, hide_labels=True), pictures(line_width=6, hide_labels=True)
    assert (thin.draw(image, result) != image).any(axis=2).sum() < (thick.draw(image, result) != image).any(
        axis=2
    ).sum()
    assert [
        label.text for label in pictures(hide_conf=True).annotator.labels(image.shape, result.detections, NAMES)
    ] == [
        "circle",
        "square",
    ]


def test_crops_leave_redacted_boxes_out(tmp_path: Path) -> None:
    image, result = scene()
    cropping = pictures(redact="circle", save_crop=str(tmp_path / "crops"))
    saved = cropping.save_crops(image, cropping.mark(result))
    assert [p.relative_to(tmp_path / "crops").as_posix() for p in saved] == ["square/a_1.png"]


def test_unknown_redact_class_is_refused_with_the_flag() -> None:
    with pytest.raises(ConfigError, match="--redact"):
        pictures(redact="circel")


def test_refusals_before_the_model_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="makes none"):
        check_pictures(load_settings(None, {"redact": "circle"}), None)
    check_pictures(load_settings(None, {"redact": "circle"}), tmp_path)
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        check_pictures(load_settings(None, {"save_crop": str(a_file)}), None)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ConfigError, match="--show"):
        check_pictures(replace(load_settings(None, {}), show=True), None)
