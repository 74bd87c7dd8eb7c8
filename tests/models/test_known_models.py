"""A checkpoint the runtime cache knows is opened from what it recorded, and loaded only when needed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from detect_cli.models import known_models
from detect_cli.models.cache_files import DigestMemo
from detect_cli.models.known_models import maybe_gpu, open_known
from detect_cli.models.lookup import ModelRef
from detect_cli.models.runtime_cache import CACHE_ENV, model_facts_path, remember_model

FACTS = {
    "family": "yolo",
    "names": {"0": "circle", "1": "ring"},
    "imgsz": 320,
    "stride": 32,
    "end2end": True,
    "trusted": False,
}


@pytest.fixture
def known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRef:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(known_models, "maybe_gpu", lambda: False)
    weights = tmp_path / "mine.pt"
    weights.write_bytes(b"checkpoint bytes")
    remember_model(DigestMemo(None).digest(weights), FACTS)
    return ModelRef("mine.pt", str(weights), "yolo", "weights")


def test_a_known_checkpoint_is_opened_without_loading_it(known: ModelRef) -> None:
    detector = open_known(known, device="", half=True)
    assert detector is not None and detector._model is None and detector._loader is not None
    assert detector.names == {0: "circle", 1: "ring"} and detector.native_imgsz == 320 and detector.end2end_capable
    assert detector.run_imgsz(None) == (320, None) and detector.class_ids(["ring"]) == (1,)
    assert detector.notes == [known_models.HALF_ON_CPU] and not detector.half


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"device": "0"}, "a GPU was asked for"),
        ({"ref": "yaml"}, "a model YAML has no weights to key on"),
        ({"facts": {**FACTS, "trusted": True}}, "it needed --trust-model, which is not given"),
        ({"facts": {**FACTS, "family": "rtdetr"}}, "the file now sniffs as another family"),
        ({"facts": {**FACTS, "names": ["circle"]}}, "damaged facts"),
        ({"facts": {**FACTS, "imgsz": -3}}, "damaged facts"),
        ({"facts": {**FACTS, "imgsz": 10**9}}, "a size no model runs at"),
        ({"facts": {**FACTS, "stride": 33}}, "a stride that is not a power of two"),
        ({"facts": {**FACTS, "stride": True}}, "a stride that is not a number"),
        ({"facts": {**FACTS, "names": {}}}, "no classes"),
        ({"facts": {**FACTS, "names": {"0": "circle", "5": "ring"}}}, "class ids that are not 0..n-1"),
        ({"facts": {**FACTS, "names": {"0": "circle", "1": ""}}}, "an empty class name"),
        ({"facts": {**FACTS, "names": {"0": "circle", "1": "x" * 5000}}}, "a name no model has"),
        ({"facts": {**FACTS, "family": "rtdetr", "end2end": True}}, "an RT-DETR with YOLO26's head"),
        ({"facts": {**FACTS, "weights_sha256": "0" * 64}}, "another checkpoint's record copied over this one"),
        ({"bytes": b"other bytes"}, "the file changed: its digest is unknown"),
    ],
)
def test_anything_unknown_or_odd_means_a_real_load(known: ModelRef, change: dict, why: str) -> None:
    ref, device = known, change.get("device", "cpu")
    if change.get("ref") == "yaml":
        ref = ModelRef("yolo26n.yaml", "yolo26n.yaml", "yolo", "yaml")
    if "facts" in change:
        digest = DigestMemo(None).digest(Path(known.path))
        model_facts_path(digest).write_text(json.dumps({"weights_sha256": digest, **change["facts"]}))
    if "bytes" in change:
        Path(known.path).write_bytes(change["bytes"])
    assert open_known(ref, device=device) is None, why


def test_trusted_facts_serve_a_trusted_run(known: ModelRef) -> None:
    digest = DigestMemo(None).digest(Path(known.path))
    model_facts_path(digest).write_text(json.dumps({**FACTS, "trusted": True, "weights_sha256": digest}))
    assert open_known(known, trusted=True) is not None


def test_a_gpu_device_node_means_ask_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(known_models.sys, "platform", "linux")
    monkeypatch.setattr(known_models.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert maybe_gpu()
    monkeypatch.setattr(known_models.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(known_models.os.path, "exists", lambda path: False)
    assert not maybe_gpu()
    monkeypatch.setattr(known_models.sys, "platform", "darwin")  # Apple's GPU: only torch can say
    assert maybe_gpu()


def test_the_model_is_loaded_the_first_time_it_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo) -> None:
    from detect_cli.models.known_models import model_facts

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(known_models, "maybe_gpu", lambda: False)
    remember_model(DigestMemo(None).digest(Path(demo.ref.path)), model_facts(demo))
    lazy = open_known(demo.ref, device="cpu")
    assert lazy is not None and lazy._model is None
    assert lazy.network() is not None and lazy._model is not None and lazy.load_s > 0  # loaded now, once
    assert (lazy.names, lazy.stride, lazy.native_imgsz) == (demo.names, demo.stride, demo.native_imgsz)


def test_the_checkpoints_own_facts_win_once_it_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo) -> None:
    """A record with the names swapped, another size and no end-to-end head opens as it says (it is
    well-formed), but the checkpoint, once loaded, corrects the detector and rewrites the record."""
    from detect_cli.models.known_models import model_facts
    from detect_cli.models.runtime_cache import known_model

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(known_models, "maybe_gpu", lambda: False)
    digest = DigestMemo(None).digest(Path(demo.ref.path))
    true = model_facts(demo)
    swapped = {"0": true["names"]["1"], "1": true["names"]["0"], **{k: v for k, v in true["names"].items() if k > "1"}}
    remember_model(digest, {**true, "names": swapped, "imgsz": 640, "end2end": False})
    lazy = open_known(demo.ref, device="cpu")
    assert lazy is not None and lazy.names[0] == demo.names[1] and lazy.native_imgsz == 640
    assert lazy.network() is not None  # loaded now
    assert (lazy.names, lazy.native_imgsz, lazy.end2end_capable) == (demo.names, demo.native_imgsz, True)
    assert lazy.notes[-1] == (
        "the runtime cache's record of demo was wrong (names, imgsz, end2end): corrected from the checkpoint"
    )
    assert known_model(digest) == {k: v for k, v in true.items() if k != "params_m"} | {"params_m": true["params_m"]}


@pytest.fixture(scope="module")
def demo():
    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model

    return load_detector(resolve_model("demo"), device="cpu")


def test_what_a_run_measured_is_kept_when_a_later_run_does_not_measure_it(known: ModelRef) -> None:
    from detect_cli.models.runtime_cache import known_model

    digest = DigestMemo(None).digest(Path(known.path))
    remember_model(digest, {**FACTS, "params_m": 2.5, "gflops": {"320": 1.45}})
    remember_model(digest, FACTS)  # a cached run: the model was not loaded, nothing measured
    remember_model(digest, {**FACTS, "gflops": {"640": 5.9}})  # another size measured
    assert known_model(digest) == {**FACTS, "params_m": 2.5, "gflops": {"320": 1.45, "640": 5.9}}
    path = model_facts_path(digest)
    damaged = {"params_m": "many", "gflops": {"320": True, "big": 3.0, "640": 5.9}}
    path.write_text(json.dumps({**FACTS, **damaged, "weights_sha256": digest}))
    remember_model(digest, FACTS)
    assert known_model(digest) == {**FACTS, "gflops": {"640": 5.9}}  # only the well-formed part survives
    remember_model(digest, {**FACTS, "imgsz": 640})  # the record described another model: none of it is kept
    assert known_model(digest) == {**FACTS, "imgsz": 640}


def test_a_known_profile_needs_no_model(known: ModelRef) -> None:
    """compare's parameter count and GFLOPs of a checkpoint the cache measured: read, not computed."""
    from detect_cli.models.known_models import model_profile

    digest = DigestMemo(None).digest(Path(known.path))
    remember_model(digest, {**FACTS, "params_m": 2.5, "gflops": {"320": 1.45}})
    lazy = open_known(known, device="cpu")
    assert lazy is not None

    def no_load():
        raise AssertionError("the model was loaded")

    lazy._loader = no_load
    profile = model_profile(lazy, 320)
    assert profile == {"params_m": 2.5, "gflops": 1.45, "file_mb": len(b"checkpoint bytes") / 2**20}


def test_a_profile_not_known_is_measured_once_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo
) -> None:
    from detect_cli.models.known_models import model_facts, model_profile
    from detect_cli.models.openvino_direct import OpenVINODetector
    from detect_cli.models.runtime_cache import known_model

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    digest = DigestMemo(None).digest(Path(demo.ref.path))
    remember_model(digest, model_facts(demo))  # as the first run records it: the parameters, no GFLOPs
    assert known_model(digest)["params_m"] == pytest.approx(demo.profile(320)["params_m"])
    assert "gflops" not in known_model(digest)
    # the verified export runs: the checkpoint is loaded to be counted, and what it gives is recorded
    export = OpenVINODetector(
        ref=replace(demo.ref, path=str(tmp_path), kind="exported"),
        names=demo.names,
        device="cpu",
        half=False,
        end2end_capable=True,
        load_s=0.0,
        origin=demo.ref,
    )
    profile = model_profile(export, 320)
    assert profile["params_m"] == pytest.approx(demo.profile(320)["params_m"]) and profile["gflops"] > 0
    assert known_model(digest)["gflops"] == {"320": profile["gflops"]}
    monkeypatch.setattr(known_models, "load_detector", lambda *a, **k: pytest.fail("measured twice"))
    assert model_profile(export, 320) == profile
