"""The runtime registry: every runtime registered answers the same questions, the choice lists and the
cache read it, and nothing outside `models/` names a runtime's module."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from detect_cli.core.choices import BACKENDS
from detect_cli.models import runtime_cache, runtimes
from detect_cli.models.runtimes.base import Runtime

PACKAGE = Path(__file__).resolve().parents[2] / "detect_cli"
RUNTIME_MODULES = {
    "detect_cli.models.openvino_direct",
    "detect_cli.models.letterbox",
    *(f"detect_cli.models.runtimes.{p.stem}" for p in (PACKAGE / "models" / "runtimes").glob("*.py")),
}
RUNTIME_PACKAGES = {"openvino", "onnxruntime"}
QUESTIONS = ("usable", "folder", "export", "loaders", "open_cached", "open_export", "runner_of", "shipped_facts")


@pytest.mark.parametrize("name", list(runtimes.RUNTIMES))
def test_every_runtime_answers_the_same_questions(name: str, tmp_path: Path) -> None:
    runtime = runtimes.get(name)
    assert isinstance(runtime, Runtime) and runtime.name == name and runtime.display
    for question in QUESTIONS:
        answer = getattr(runtime, question)
        assert callable(answer), question
        base = inspect.signature(getattr(Runtime, question))
        assert list(inspect.signature(answer).parameters) == list(base.parameters)[1:], question  # same arguments
    assert isinstance(runtime.usable(), bool)
    assert runtime.folder(tmp_path) == tmp_path / name  # its files in the entry: one folder of its own
    assert set(runtime.runners) <= set(runtimes.runners())
    if runtime.export_format is None:
        assert not runtime.runners and not runtime.quantizes  # the checkpoint itself: nothing to export
        with pytest.raises(ValueError, match="nothing to export"):
            runtime.export(None, tmp_path, 320)  # type: ignore[arg-type]
    else:
        assert runtime.runners[-1] == "ultralytics"  # the wrapper is the last resort of every export
        assert runtime.package is not None


def test_a_runtime_is_named_for_people_by_its_row() -> None:
    assert runtimes.display("openvino") == "OpenVINO" and runtimes.display("openvino", "int8") == "OpenVINO INT8"
    assert runtimes.display("torch") == "PyTorch" and runtimes.display("onnx") == "ONNX Runtime"
    assert runtimes.display("torchscript", "fp16") == "torchscript FP16"  # a format no row runs: as named


def test_the_choices_the_cache_and_auto_read_the_registry() -> None:
    assert BACKENDS == ("auto", *runtimes.RUNTIMES)  # core cannot import models: the same names, checked here
    assert runtime_cache.RUNTIMES == tuple(runtimes.RUNTIMES)
    assert runtime_cache.RUNNERS == runtimes.runners()
    assert runtime_cache.INT8_OUTCOMES == ("openvino", "fp32")  # INT8 is a precision of OpenVINO
    assert runtimes.EXPORTED == ("openvino", "onnx")  # auto's order: OpenVINO first
    with pytest.raises(KeyError):
        runtimes.get("tensorrt")


def test_a_cache_key_depends_on_every_registered_runtimes_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new runtime's package version enters the key with its row: a cached decision made with another
    version of any runtime is not believed."""
    from types import SimpleNamespace

    from detect_cli.models.lookup import ModelRef

    detector = SimpleNamespace(weights_path=__file__, ref=ModelRef("x", __file__, "yolo", "weights"))
    keys = set()
    for version in ("1.0", "2.0"):
        monkeypatch.setattr(runtime_cache, "_version", lambda p, v=version: v if p == "onnxruntime" else "x")
        keys.add(runtime_cache.cache_key(detector, 320, 1))  # type: ignore[arg-type]
    assert len(keys) == 2


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_nothing_outside_models_names_a_runtime_module() -> None:
    """Tasks, the pipeline, Ray and the CLI ask the registry (`models.runtimes`), never a runtime's module
    or its package (read from the source, lazy imports too)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "models":
            continue
        named = {i for i in _imports(path) if i in RUNTIME_MODULES or i.split(".")[0] in RUNTIME_PACKAGES}
        offenders += [f"{path.relative_to(PACKAGE)}: {name}" for name in sorted(named)]
    assert not offenders, "\n".join(offenders)
