"""--backend auto: the fastest runtime verified on this machine, cached, with PyTorch as the fallback."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.matching import Agreement
from detect_cli.demo.scenes import make_scene
from detect_cli.models import runtime as backends
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.export import Verification, verify
from detect_cli.models.lookup import resolve_model
from detect_cli.models.runtime_trial import MIN_GAIN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO is a dependency"),
]
OPTIONS = PredictOptions(imgsz=320)


@pytest.fixture(scope="module")
def demo():
    return load_detector(resolve_model("demo"), device="cpu")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(backends.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "backends"


def _scenes(n: int, seed: int = 7) -> list[np.ndarray]:
    return [make_scene(np.random.default_rng([seed, i]))[0] for i in range(n)]


@pytest.fixture(scope="module")
def custom_weights(demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo weights under other class names: a model fine-tuned on a user's own classes."""
    import torch

    checkpoint = torch.load(demo.ref.path, map_location="cpu", weights_only=False)
    others = ["helmet", "vest", "glove", "boot", "mask", "cone", "ladder", "harness"]
    checkpoint["model"].names = {i: others[i] for i in range(len(demo.names))}
    path = tmp_path_factory.mktemp("custom") / "site-safety.pt"
    torch.save(checkpoint, path)
    return path


def _user_folder(folder: Path, n: int = 6) -> Path:
    """Pictures as a user has them: 2:1, 4:3 and portrait, made of scenes the model knows."""
    import cv2

    folder.mkdir(parents=True)
    for i in range(n):
        a, b = _scenes(2, seed=40 + i)
        picture = [np.hstack([a, b]), np.hstack([a, b[:, :107]]), np.vstack([a, b[:160]])][i % 3]
        cv2.imwrite(str(folder / f"site_{i}.jpg"), picture)
    return folder


@pytest.fixture
def any_gain() -> Iterator[None]:
    """What these tests check is where the export is verified and what is cached, not its speed: on a
    loaded machine a first run may time OpenVINO at 1.0x torch and keep PyTorch, which is right but not
    the subject. Its own patch: a test's `monkeypatch.undo()` leaves it in place."""
    from detect_cli.models import runtime_trial

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime_trial, "MIN_GAIN", 0.0)
        patch.setattr(runtime_trial, "GOOD_ENOUGH", 0.0)  # OpenVINO passes: ONNX Runtime is not tried
        yield


def _open(weights: Path | str, sources: list[str]):
    from detect_cli.core.settings import load_settings
    from detect_cli.models.open import open_model

    settings = load_settings(None, {"model": str(weights), "backend": "auto", "device": "cpu", "imgsz": 320})
    return open_model(settings, sources=sources).detector


def _folder_images(folder: Path) -> list[np.ndarray]:
    import cv2

    return [cv2.imread(str(path)) for path in sorted(folder.iterdir())]


def test_a_custom_class_model_gets_openvino_verified_on_its_own_folder(
    custom_weights: Path, demo, cache: Path, tmp_path: Path, any_gain: None
):
    """Its first folder run is checked on that folder (2:1, 4:3 and portrait pictures) and runs OpenVINO,
    with PyTorch's boxes at the same letterbox."""
    folder = _user_folder(tmp_path / "site")
    chosen = _open(custom_weights, [str(folder)])
    assert chosen.backend == "openvino" and chosen.names[0] == "helmet", chosen.backend_reason
    assert "of the run's images" in chosen.backend_reason
    pytorch = load_detector(resolve_model(str(custom_weights)), device="cpu")
    from detect_cli.models.check_images import square

    same_letterbox = [square(image) for image in _folder_images(folder)]  # the export pads them so
    check = verify(pytorch, chosen, same_letterbox, OPTIONS, min_f1=0.99, iou=0.9, margin=0.05)
    assert check.agreement.count_a >= 10 and check.passed, check.as_dict()


def test_a_blank_first_run_decides_nothing_and_the_next_folder_run_gets_openvino(
    demo, cache: Path, tmp_path: Path, any_gain: None
):
    import cv2

    weights = tmp_path / "mine.pt"
    weights.write_bytes(Path(demo.ref.path).read_bytes())
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((480, 640, 3), np.uint8))
    first = _open(weights, [str(blank)])
    assert first.backend == "torch" and "not verifiable" in first.backend_reason
    assert "1 of the run's images" in first.backend_reason and not list(cache.glob("*/decision.json"))
    folder = _user_folder(tmp_path / "photos")
    second = _open(weights, [str(folder)])
    assert second.backend == "openvino" and "6 of the run's images" in second.backend_reason
    decision = json.loads(next(cache.glob("*/decision.json")).read_text())
    assert decision["checked_on"] == "6 of the run's images" and decision["backend"] == "openvino"


def test_auto_runs_a_verified_export_with_pytorchs_boxes(demo, cache: Path):
    chosen, choice = backends.choose_backend(demo, "auto", OPTIONS)
    assert choice.backend in {"openvino", "onnx"} and chosen.backend == choice.backend
    assert choice.f1 >= 0.99 and choice.speedup >= MIN_GAIN and not choice.cached
    assert chosen.ref.spec == "demo" and chosen.weights_path == demo.ref.path  # results still name the user's model
    assert chosen.names == demo.names and Path(choice.path).is_relative_to(cache)
    assert f"{choice.speedup:.1f}x torch here" in chosen.backend_reason
    # on scenes the check never saw, the same boxes: F1 >= 0.99 at IoU 0.9
    check = verify(
        demo,
        chosen,
        _scenes(6),
        PredictOptions(imgsz=320, conf=0.25),
        min_f1=0.99,
        iou=0.9,
        max_conf_diff=0.05,
        margin=0.05,
    )
    assert check.agreement.count_a > 10 and check.passed, check.as_dict()


def test_second_run_uses_the_cache_without_exporting(
    demo, demo_cache: Path, monkeypatch: pytest.MonkeyPatch, any_gain: None
):
    """From the session's verified entry of demo (conftest): the first run that makes it is the subject above."""
    _, first = backends.choose_backend(demo, "auto", OPTIONS)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr("detect_cli.models.export.export_model", no_export)
    chosen, again = backends.choose_backend(demo, "auto", OPTIONS)
    assert again.cached and (again.backend, again.path) == (first.backend, first.path)
    # the speed figure was measured at the first run: the reason says when and on which CPU
    assert "torch here" not in again.reason and "x torch, measured 20" in again.reason
    assert backends.cpu_name() in again.reason
    ((dets, _),) = chosen.predict(_scenes(1), OPTIONS)
    assert len(dets) > 0


def test_a_corrupted_cache_is_rebuilt(demo, demo_cache: Path, monkeypatch: pytest.MonkeyPatch, any_gain: None):
    cache = demo_cache / "backends"  # the session's verified entry of demo (conftest), this test's copy
    _, first = backends.choose_backend(demo, "auto", OPTIONS)
    assert first.backend in {"openvino", "onnx"}
    (entry,) = list(cache.iterdir())
    (entry / "decision.json").write_text('{"backend": "openvino", "path": [')  # cut mid-write
    _, second = backends.choose_backend(demo, "auto", OPTIONS)
    assert not second.cached and second.backend in {"openvino", "onnx"}  # measured again: either may win
    assert "not valid JSON" in second.notes[0]
    for file in Path(second.path).rglob("*"):  # the export itself damaged: its digests say so, rebuilt at once
        if file.is_file():
            file.write_bytes(b"garbage")
    _, third = backends.choose_backend(demo, "auto", OPTIONS)
    assert third.backend in {"openvino", "onnx"} and not third.cached and "changed since" in third.notes[0]

    def broken(*args, **kwargs):
        raise RuntimeError("cannot read the network")

    # files as verified, yet the runtime cannot open them: PyTorch now, rebuilt on the next run
    monkeypatch.setattr("detect_cli.models.openvino_direct.open_openvino", broken)
    monkeypatch.setattr("detect_cli.models.export.load_exported", broken)
    chosen, fourth = backends.choose_backend(demo, "auto", OPTIONS)
    assert (fourth.backend, chosen.ref) == ("torch", demo.ref) and "unusable" in fourth.reason
    monkeypatch.undo()
    monkeypatch.setenv(backends.CACHE_ENV, str(cache.parent))
    _, fifth = backends.choose_backend(demo, "auto", OPTIONS)
    assert fifth.backend in {"openvino", "onnx"} and not fifth.cached


def test_failed_verification_falls_back_to_pytorch_and_says_why(demo, cache: Path, monkeypatch: pytest.MonkeyPatch):
    def disagreeing(*args, **kwargs):
        return Verification(8, Agreement(10, 40, 38), 0.3, 20.0, 10.0, 0.99, 0.05)

    monkeypatch.setattr("detect_cli.models.export.verify", disagreeing)
    chosen, choice = backends.choose_backend(demo, "auto", OPTIONS)
    assert chosen.ref == demo.ref and choice.backend == "torch"
    assert "not the same boxes" in choice.reason and "F1 0.256" in choice.reason
    decision = json.loads(next(cache.iterdir()).joinpath("decision.json").read_text())
    assert decision["backend"] == "torch"  # remembered: the next run does not export again


def test_torch_and_yaml_models_keep_pytorch(demo, yolo_detector, cache: Path):
    chosen, choice = backends.choose_backend(demo, "torch", OPTIONS)
    assert chosen.ref == demo.ref and choice.backend == "torch"
    chosen, choice = backends.choose_backend(yolo_detector, "auto", PredictOptions(imgsz=64))
    assert chosen.ref == yolo_detector.ref and "random weights" in choice.reason
    assert not cache.exists()  # nothing exported for either


def test_nms_head_needs_pytorch(demo, cache: Path):
    chosen, choice = backends.choose_backend(demo, "auto", PredictOptions(imgsz=320, nms=True))
    assert chosen.ref == demo.ref and "--nms" in choice.reason


def test_the_cache_key_changes_with_what_shapes_the_export(demo):
    keys = {backends.cache_key(demo, 320, 1), backends.cache_key(demo, 640, 1), backends.cache_key(demo, 320, 4)}
    assert len(keys) == 3


def test_out_of_the_box_cli_runs_demo_at_320_on_the_verified_runtime(monkeypatch: pytest.MonkeyPatch):
    """What a new user gets: no flags, no config; the runtime and size are in the JSON header."""
    from typer.testing import CliRunner

    from detect_cli.cli.app import app
    from tests.conftest import SAMPLES

    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)
    image = str(SAMPLES / "shapes" / "shape_00003.jpg")
    runner = CliRunner()
    auto = runner.invoke(app, [image, "--model", "demo", "--format", "json"])
    torch = runner.invoke(app, [image, "--model", "demo", "--format", "json", "--backend", "torch"])
    assert auto.exit_code == torch.exit_code == 0, auto.stderr
    fast, plain = json.loads(auto.stdout), json.loads(torch.stdout)
    assert fast["model"]["backend"]["name"] in {"openvino", "onnx"}
    assert "verified F1" in fast["model"]["backend"]["reason"]
    assert plain["model"]["backend"] == {"name": "torch", "precision": "fp32", "reason": "requested (--backend torch)"}
    assert fast["settings"]["imgsz"] == plain["settings"]["imgsz"] == 320
    assert fast["model"]["letterbox"] == plain["model"]["letterbox"] == "rect"  # the export is reshaped too
    assert fast["model"]["spec"] == "demo"
    assert re.search(r"runtime\s+│\s+(OpenVINO|ONNX Runtime) \(verified F1", auto.stderr)  # the registry's name
    assert re.search(r"letterbox\s+│\s+rect", auto.stderr) and re.search(r"runtime\s+│\s+PyTorch", torch.stderr)
    boxes = [[(d["class_id"], d["box"]) for d in doc["images"][0]["detections"]] for doc in (fast, plain)]
    assert len(boxes[0]) == len(boxes[1]) >= 3
    for (cls_a, box_a), (cls_b, box_b) in zip(sorted(boxes[0]), sorted(boxes[1])):
        assert cls_a == cls_b and np.allclose(box_a, box_b, atol=2.0)


def test_a_model_that_finds_nothing_is_not_exported(
    checkpoints: dict[str, Path], cache: Path, monkeypatch: pytest.MonkeyPatch
):
    """Random weights find no boxes on the check images: there is nothing to verify, so no export, and
    nothing lasting is decided (the next run, maybe on pictures with boxes, checks again)."""

    def no_export(*args, **kwargs):
        raise AssertionError("exported a model that cannot be verified")

    monkeypatch.setattr("detect_cli.models.export.export_model", no_export)
    random = load_detector(resolve_model(str(checkpoints["yolo"])), device="cpu")
    chosen, choice = backends.choose_backend(random, "auto", PredictOptions(imgsz=640))
    assert chosen.ref == random.ref and choice.backend == "torch" and "not verifiable" in choice.reason
    _, again = backends.choose_backend(random, "auto", PredictOptions(imgsz=640))
    assert not again.cached and again.reason == choice.reason and not list(cache.glob("*/decision.json"))


def test_torch_keeps_its_threads_when_an_export_was_tried_and_refused(
    demo, cache: Path, monkeypatch: pytest.MonkeyPatch, any_gain: None
):
    import torch

    disagreeing = Verification(8, Agreement(0, 9, 9), 0.5, 20, 10, 0.99, 0.05)
    monkeypatch.setattr("detect_cli.models.export.verify", lambda *a, **k: disagreeing)
    _, choice = backends.choose_backend(demo, "auto", OPTIONS)
    assert choice.backend == "torch" and torch.get_num_threads() == max(1, (os.cpu_count() or 1) - 1)
    # and beside Ultralytics' wrapper of a runtime that passed, torch (letterbox and box decoding only) keeps
    # to one thread (our own OpenVINO runner is kept out here: it needs no torch at all)
    from detect_cli.models.openvino_direct import AdapterRefused

    def refused(*args, **kwargs):
        raise AdapterRefused("kept out by the test")

    monkeypatch.undo()
    monkeypatch.setenv(backends.CACHE_ENV, str(cache.parent / "again"))
    monkeypatch.setattr("detect_cli.models.openvino_direct.open_openvino", refused)
    _, choice = backends.choose_backend(demo, "auto", OPTIONS)
    try:
        assert choice.backend != "torch" and choice.runner == "ultralytics" and torch.get_num_threads() == 1
    finally:
        from detect_cli.models.ultralytics_env import set_torch_threads

        set_torch_threads(0)  # as the other tests expect


def test_two_first_runs_at_once_share_one_cache(cache: Path, tmp_path: Path):
    """Two processes export the same model at the same moment: both finish on a verified runtime and
    the cache ends with one complete entry (exports appear by rename; a winner is never replaced)."""
    import subprocess
    import sys

    from tests.conftest import SAMPLES

    env = {**os.environ, backends.CACHE_ENV: str(cache.parent)}
    env.pop("ATTN_DETECT_BACKEND", None)
    command = [
        sys.executable,
        "-c",
        # the subject is two runs sharing one cache, not speed: a busy machine's timing would keep PyTorch
        "from detect_cli.models import runtime_trial as t; t.MIN_GAIN = t.GOOD_ENOUGH = 0.0; "
        "from detect_cli.cli.app import run; run()",
        str(SAMPLES / "shapes" / "shape_00003.jpg"),
        "--model",
        "demo",
        "--format",
        "json",
        "--quiet",
    ]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    docs = [json.loads(out) for out, _ in outputs]
    assert all(doc["model"]["backend"]["name"] in {"openvino", "onnx"} for doc in docs)
    boxes = [sorted((d["class_id"], d["box"]) for d in doc["images"][0]["detections"]) for doc in docs]
    assert len(boxes[0]) == len(boxes[1]) >= 3  # each timed its own runtimes: either may have won
    assert all(a[0] == b[0] and np.allclose(a[1], b[1], atol=1.0) for a, b in zip(*boxes))
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".tmp-")]
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]  # no staging left behind
    decision = json.loads((entry / "decision.json").read_text())
    assert (entry / decision["path"]).exists()
