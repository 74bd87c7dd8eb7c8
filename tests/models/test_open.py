"""models/open.py: `open_model` gives Python the model the CLI would run, with what to say about it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detect_cli.core.errors import ModelLoadError
from detect_cli.core.settings import load_settings
from detect_cli.models.open import open_model

pytestmark = pytest.mark.slow


def test_the_model_runs_at_its_own_size_with_notes_not_prints(capsys) -> None:
    settings = load_settings(None, {"model": "demo", "backend": "torch"})
    assert settings.imgsz is None
    opened = open_model(settings, iou_given=True)
    assert opened.settings.imgsz == 320  # the training size kept in the checkpoint
    assert opened.options.imgsz == 320 and opened.detector.ref.spec == "demo"
    assert any("--iou has no effect" in note for note in opened.notes)
    assert capsys.readouterr().out == ""  # the library prints nothing: the CLI says the notes


def test_attention_needs_torch_so_the_runtime_is_pytorch() -> None:
    settings = load_settings(None, {"model": "demo", "backend": "openvino", "imgsz": 160})
    opened = open_model(settings, needs_torch="attention maps")
    assert opened.detector.backend == "torch" and opened.settings.imgsz == 160
    assert any("--backend openvino ignored: attention maps needs the PyTorch model" in n for n in opened.notes)


def test_a_missing_model_is_one_error_naming_it() -> None:
    with pytest.raises(ModelLoadError, match=r"no-such-weights\.pt"):
        open_model(replace(load_settings(None, {}), model="no-such-weights.pt"))


def test_attention_needs_torch_so_int8_is_not_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)
    settings = load_settings(None, {"model": "demo", "precision": "int8"})
    opened = open_model(settings, needs_torch="--attention")
    assert opened.detector.backend == "torch" and opened.detector.precision == "fp32"
    assert "--precision int8 ignored: --attention needs the PyTorch model" in opened.notes
