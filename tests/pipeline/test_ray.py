"""`detect --engine ray`: same records as the local engine, on a local Ray instance and on a
simulated 3-node cluster, surviving a worker killed mid-run."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.inputs.images import ReadOptions
from tests.conftest import SAMPLES, any_speed_gain

# CI installs the [ray] extra; Ray is imported where it is used, not when the suite is collected (seconds)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the [ray] extra is not installed")

MODEL = ["--imgsz", "160", "--conf", "0.0", "--max-det", "4", "--threads", "1"]
runner = CliRunner()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    for i, src in enumerate(sorted((SAMPLES / "shapes").glob("*.jpg"))[:10]):
        shutil.copy(src, folder / f"img_{i:02d}.jpg")
    (folder / "img_05_bad.jpg").write_text("not an image")
    return folder


def records(stdout: str) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "speed_ms"} for line in stdout.splitlines()]


def run(*args: str) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, [*args, "--format", "jsonl"])
    return result.exit_code, records(result.stdout), result.stderr


# Fault injection, kept in the tests: every Python process Ray starts imports `sitecustomize` from the
# PYTHONPATH it inherits, and this one makes the actor kill its own process once (a real crash, os._exit)
# on the batch that holds the input named in the marker file. After each batch it also appends to a
# log what ran it (its pid, the detector's type, which of torch and Ultralytics the process has imported).
FAULT = """
import json, os, sys
from pathlib import Path

from detect_cli.pipeline.ray import actor

_call = actor.DetectActor.__call__


def _dying_call(self, rows):
    marker = Path(os.environ["ATTN_DETECT_TEST_FAULT_FILE"])
    victim = marker.read_text().strip() if marker.exists() else ""
    if victim and victim in {os.path.basename(str(r)) for r in rows["ref"]}:
        marker.unlink()
        os._exit(1)
    out = _call(self, rows)
    heavy = sorted(m for m in ("torch", "ultralytics") if m in sys.modules)
    seen = {"pid": os.getpid(), "detector": type(self.detector).__name__, "heavy": heavy}
    with open(os.environ["ATTN_DETECT_TEST_ACTOR_LOG"], "a") as log:
        log.write(json.dumps(seen) + "\\n")
    return out


actor.DetectActor.__call__ = _dying_call
"""


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    import ray

    fault = tmp_path_factory.mktemp("fault")
    (fault / "sitecustomize.py").write_text(FAULT, encoding="utf-8")
    marker = fault / "victim"
    saved = {k: os.environ.get(k) for k in ("ATTN_DETECT_TEST_FAULT_FILE", "ATTN_DETECT_TEST_ACTOR_LOG", "PYTHONPATH")}
    os.environ["ATTN_DETECT_TEST_FAULT_FILE"] = str(marker)  # the workers inherit all three
    os.environ["ATTN_DETECT_TEST_ACTOR_LOG"] = str(fault / "actors.jsonl")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(fault), saved["PYTHONPATH"]) if p)
    try:  # the environment comes back even when Ray does not start (later tests' subprocesses inherit it)
        ray.init(  # "local": a new instance, never one a crashed earlier run named in /tmp/ray/ray_current_cluster
            address="local",
            num_cpus=2,
            object_store_memory=80 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
        yield marker
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def weights(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fixed random weights (a YAML builds new random ones in every process): YOLO26n and the
    small RT-DETR of the demo recipe, saved as checkpoints."""
    from ultralytics import RTDETR

    from detect_cli.demo.train_rtdetr import MODEL_YAML

    rtdetr = tmp_path_factory.mktemp("rtdetr") / "small-rtdetr.pt"
    RTDETR(str(MODEL_YAML)).save(rtdetr)
    return {"yolo": str(checkpoints["yolo"]), "rtdetr": str(rtdetr)}


@pytest.mark.parametrize("family", ["yolo", "rtdetr"])
def test_ray_records_equal_local(local_ray, weights: dict, mixed: Path, http_server: str, family: str) -> None:
    from tests.http_server import PHOTO_PATH

    model = weights[family]
    sources = [str(mixed), http_server + PHOTO_PATH, http_server + "/missing"]
    code_local, local, _ = run(*sources, "--model", model, *MODEL)
    code_ray, on_ray, stderr = run(*sources, "--model", model, *MODEL, "--engine", "ray", "--actors", "2")
    assert code_local == code_ray == 3, stderr
    assert len(on_ray) == 13 and [r["status"] for r in on_ray].count("error") == 2
    assert on_ray == local  # same images, boxes, classes, order, and error records


def test_a_verified_export_runs_on_our_own_runner_in_the_actors(
    local_ray, mixed: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The driver's runtime check chose the demo model's OpenVINO export on attn-detect's own runner
    (runner "direct"): the actors run that runner too (same records as the local run), and their
    processes import neither torch nor Ultralytics."""
    monkeypatch.delenv("ATTN_DETECT_BACKEND")  # auto, as a user runs it
    monkeypatch.setenv("ATTN_DETECT_CACHE_DIR", str(tmp_path / "cache"))
    any_speed_gain(monkeypatch)  # the subject is the actors' runner: a busy machine's timing would keep PyTorch
    args = [str(mixed), "--model", "demo", "--conf", "0.1", "--threads", "1"]
    code_local, local, stderr = run(*args)
    assert code_local == 3, stderr
    (decision,) = (tmp_path / "cache" / "backends").glob("*/decision.json")
    assert json.loads(decision.read_text())["runner"] == "direct"
    log = Path(os.environ["ATTN_DETECT_TEST_ACTOR_LOG"])
    log.unlink(missing_ok=True)
    code_ray, on_ray, stderr = run(*args, "--engine", "ray", "--actors", "1")
    assert code_ray == 3, stderr
    assert on_ray == local and sum(len(r.get("detections", [])) for r in local) >= 10
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen and all(s["detector"] == "OpenVINODetector" for s in seen), seen
    assert all(s["heavy"] == [] for s in seen), seen  # the actor's process: no torch, no Ultralytics


def test_a_worker_killed_mid_run_loses_nothing(local_ray, mixed: Path) -> None:
    local_ray.write_text("img_07.jpg")  # the actor that reads this input dies once (os._exit)
    code, on_ray, stderr = run(str(mixed), "--model", "yolo26n.yaml", *MODEL, "--engine", "ray", "--actors", "2")
    assert not local_ray.exists(), "the fault was not injected"
    assert code == 3, stderr
    assert [Path(r["source"]).name for r in on_ray] == sorted(p.name for p in mixed.iterdir())  # each once, in order


def test_multi_node_cluster(mixed: Path, tmp_path: Path) -> None:
    """A head with no CPUs and two 1-CPU worker nodes: two actors must run on different nodes."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * 2**20})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
        cluster.wait_for_nodes()
        out = tmp_path / "r.jsonl"
        result = runner.invoke(
            app,
            [
                str(mixed),
                "--model",
                "yolo26n.yaml",
                *MODEL,
                "--engine",
                "ray",
                "--actors",
                "2",
                "--address",
                cluster.address,
                "--out",
                str(out),
                "--quiet",
            ],
        )
        assert result.exit_code == 3, result.stderr
        assert len([n for n in ray.nodes() if n["Alive"]]) == 3
        assert len(out.read_text().splitlines()) == 11
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_unreachable_address_is_one_line_exit_2() -> None:
    result = runner.invoke(
        app, [str(SAMPLES / "bus.jpg"), "--model", "yolo26n.yaml", "--engine", "ray", "--address", "127.0.0.1:9"]
    )
    assert result.exit_code == 2 and "no Ray cluster answers" in result.stderr and "Traceback" not in result.stderr


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    result = runner.invoke(app, [str(SAMPLES / "bus.jpg"), "--engine", "ray"])
    assert result.exit_code == 2 and 'pip install "attn-detect[ray]"' in result.stderr


def test_save_and_resume_work_on_ray(local_ray, weights: dict, mixed: Path, tmp_path: Path) -> None:
    out, save = tmp_path / "r.jsonl", tmp_path / "annotated"
    args = [str(mixed), "--model", weights["yolo"], *MODEL, "--engine", "ray", "--out", str(out), "--quiet"]
    assert runner.invoke(app, [*args, "--save", str(save)]).exit_code == 3
    assert len(list(save.glob("*.jpg"))) == 10  # the bad file has nothing to draw
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:4]) + "\n")  # as if the run had stopped after four images
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 3, again.stderr
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in resumed] == list(range(11))


def test_sharded_output_written_by_workers(local_ray, weights: dict, mixed: Path, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    args = [str(mixed), "--model", weights["yolo"], *MODEL, "--engine", "ray", "--actors", "2"]
    result = runner.invoke(app, [*args, "--out", f"{shards}/", "--batch", "2"])
    assert result.exit_code == 3, result.stderr
    manifest = json.loads((shards / "manifest.json").read_text())
    lines = [json.loads(line) for shard in manifest["shards"] for line in (shards / shard).read_text().splitlines()]
    assert sorted(r["index"] for r in lines) == list(range(11))  # each input once
    assert manifest["summary"]["images"] == 10 and manifest["summary"]["failed"] == 1
    plain = runner.invoke(app, [*args[:-4], "--format", "jsonl"]).stdout  # the local engine
    local = {r["source"]: r["detections"] for r in records(plain)}
    assert {r["source"]: r["detections"] for r in lines} == local
    assert "images processed" in result.stderr and result.stdout == ""  # --out: summary on stderr


# --- the actors' device and precision, and a run that stops in a worker: no Ray instance needed ---


@pytest.mark.parametrize(
    ("requested", "gpus", "expected"),
    [
        ("", 0, "cpu"),  # auto, no GPU reserved: the CPU
        ("auto", 0, "cpu"),
        ("cpu", 0, "cpu"),
        ("", 1, "0"),  # a reserved GPU is the actor's device 0, whatever the driver's numbering
        ("0", 0.25, "0"),
        ("3", 1, "0"),
        ("cpu", 1, "reserve a GPU and never use it"),
        ("0", 0, "needs --gpus-per-actor"),
        ("0,1", 0, "needs --gpus-per-actor"),
    ],
)
def test_actor_device_follows_the_reservation(requested: str, gpus: float, expected: str) -> None:
    from detect_cli.core.errors import ConfigError
    from detect_cli.pipeline.ray.actor import actor_device

    if expected in {"cpu", "0"}:
        assert actor_device(requested, gpus) == expected
    else:
        with pytest.raises(ConfigError, match=expected):
            actor_device(requested, gpus)


def test_actor_loads_its_model_on_the_device_and_precision_it_is_given(monkeypatch, checkpoints) -> None:
    from detect_cli.models import detector as models
    from detect_cli.models.detector import PredictOptions
    from detect_cli.models.lookup import ModelRef
    from detect_cli.pipeline.ray import actor as ray_engine
    from detect_cli.pipeline.ray.actor import DetectActor

    monkeypatch.setattr(ray_engine, "_unpack_model", lambda payload, ref, into: checkpoints["yolo"])
    asked: list[dict] = []
    real = models.load_detector

    def load(ref, **kwargs):
        asked.append(kwargs)
        return real(ref, **{**kwargs, "device": "cpu"})  # no GPU here: what was asked is what counts

    monkeypatch.setattr(models, "load_detector", load)
    payload = {"ref": ModelRef("tiny-yolo.pt", "tiny-yolo.pt", "yolo", "weights")}
    on_gpu = DetectActor(payload, PredictOptions(), ReadOptions(), 1, 2, device="0", half=True)
    assert asked[-1] == {"device": "0", "half": True, "threads": 2}
    assert on_gpu.detector.ref.path == str(checkpoints["yolo"])
    monkeypatch.setattr(models, "load_detector", real)
    on_cpu = DetectActor(payload, PredictOptions(), ReadOptions(), 1, 1, device="cpu", half=True)
    assert (on_cpu.detector.device, on_cpu.detector.half) == ("cpu", False)  # the CPU has no fp16: said, not hidden
    assert any("--half ignored" in n for n in on_cpu.detector.notes)


def _exported(folder: Path, weights: Path, runner: str):
    """The OpenVINO export `--backend auto` chose on the driver, as a Detector that is not loaded: on
    our own runner ("direct"), or on Ultralytics' wrapper."""
    from detect_cli.models.detector import Detector
    from detect_cli.models.lookup import ModelRef
    from detect_cli.models.openvino_direct import OpenVINODetector

    kind = OpenVINODetector if runner == "direct" else Detector
    ref, origin = ModelRef("demo", str(folder), "yolo", "exported"), ModelRef("demo", str(weights), "yolo", "weights")
    return kind(
        ref=ref,
        names={0: "circle"},
        device="",
        half=False,
        end2end_capable=True,
        load_s=0.0,
        backend="openvino",
        origin=origin,
    )


@pytest.mark.parametrize(
    ("ray_options", "device", "half", "runs"),
    [
        ({}, "cpu", False, "export"),  # CPU actors run the export the driver verified
        ({"gpus_per_actor": 1}, "0", False, "weights"),  # GPU actors run PyTorch, on their GPU
        ({"gpus_per_actor": 0.5, "device": "auto", "half": True}, "0", True, "weights"),  # --half reaches them
    ],
)
@pytest.mark.parametrize("runner", ["direct", "ultralytics"])
def test_actor_arguments_carry_device_half_and_runtime(
    monkeypatch, tmp_path: Path, ray_options: dict, device: str, half: bool, runs: str, runner: str
) -> None:
    import ray

    from detect_cli.models.detector import PredictOptions
    from detect_cli.pipeline.ray import actor as ray_engine
    from detect_cli.pipeline.ray.actor import actor_arguments
    from detect_cli.pipeline.ray.cluster import RayOptions

    folder = tmp_path / "demo_openvino_model"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.xml").write_text("<xml/>")
    (folder / "sub" / "metadata.yaml").write_text("imgsz: 320\n")
    weights = tmp_path / "demo.pt"
    weights.write_bytes(b"torch weights")
    monkeypatch.setattr(ray, "put", lambda data: data)  # the object store, as plain bytes
    monkeypatch.setattr(ray, "get", lambda data: data)
    exported = _exported(folder, weights, runner)
    args = actor_arguments(exported, PredictOptions(), ReadOptions(), 4, RayOptions(**ray_options))
    assert (args["device"], args["half"]) == (device, half)
    payload = args["payload"]
    local = ray_engine._unpack_model(payload, payload["ref"], tmp_path / "unpacked")
    if runs == "export":
        assert payload["ref"].kind == "exported" and payload["folder"]
        assert (local / "model.xml").read_text() == "<xml/>" and (local / "sub" / "metadata.yaml").exists()
    else:
        assert payload["ref"].kind == "weights" and local.read_bytes() == b"torch weights"
    # our own runner in the actor only where the driver's check verified it, and never on a GPU
    direct = payload.get("shipped")
    if runner == "direct" and runs == "export":
        assert direct == {
            "runtime": "openvino",
            "names": {0: "circle"},
            "end2end": True,
            "stride": 32,
            "origin": exported.origin,
            "precision": "fp32",
        }
    else:
        assert direct is None


@pytest.mark.parametrize("kind", ["weights", "exported"])
def test_an_actor_leaves_no_copy_of_the_model_behind(monkeypatch, tmp_path: Path, checkpoints, kind: str) -> None:
    """Each actor unpacks the model into a scratch folder: a checkpoint's goes once it is loaded, an
    export's (opened at the first batch) when the actor goes. They used to pile up in /tmp, 5 MB a run."""
    import gc
    import tempfile

    import ray

    from detect_cli.models import detector as models
    from detect_cli.models.detector import PredictOptions
    from detect_cli.models.lookup import ModelRef
    from detect_cli.pipeline.ray.actor import DetectActor

    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    monkeypatch.setattr(ray, "get", lambda data: data)
    seen: list[Path] = []
    real = models.load_detector

    def load(ref, **kwargs):
        seen.append(Path(ref.path))
        assert Path(ref.path).read_bytes() == checkpoints["yolo"].read_bytes()
        return real(replace(ref, path=str(checkpoints["yolo"]), kind="weights"), **kwargs)

    monkeypatch.setattr("detect_cli.models.detector.load_detector", load)
    payload = {
        "ref": ModelRef("tiny", "tiny.pt", "yolo", kind),
        "blob": checkpoints["yolo"].read_bytes(),
        "suffix": ".pt",
        "folder": False,
    }
    actor = DetectActor(payload, PredictOptions(), ReadOptions(), 1, 1)
    assert seen and seen[0].is_relative_to(scratch_root)
    assert list(scratch_root.iterdir()) == ([] if kind == "weights" else [seen[0].parent])
    del actor
    gc.collect()
    assert list(scratch_root.iterdir()) == []


@pytest.mark.parametrize("shard", [False, True])
def test_a_run_stopped_in_a_worker_stops_on_the_driver(tmp_path: Path, shard: bool) -> None:
    """ModelFailed in an actor reaches the driver as itself (message and hint), not as Ray's wrapped text."""
    import numpy as np

    from detect_cli.core.errors import ModelFailed
    from detect_cli.models.detector import PredictOptions
    from detect_cli.pipeline.ray.actor import DetectActor, raise_if_stopped
    from tests.pipeline.test_engine import BreakingDetector

    actor = DetectActor.__new__(DetectActor)  # the model is a stand-in that breaks at once
    actor.detector = BreakingDetector(0, RuntimeError("CUDA error: an illegal memory access was encountered"))
    actor.options, actor.read, actor.batch = PredictOptions(imgsz=64), ReadOptions(), 2
    actor.shard_dir = str(tmp_path) if shard else None
    images = sorted((SAMPLES / "shapes").glob("*.jpg"))[:3]
    rows = {
        "index": np.array([7, 8, 9]),
        "ref": np.array([str(p) for p in images]),
        "name": np.array([p.name for p in images]),
        "is_url": np.array([False] * 3),
        "error": np.array([""] * 3),
    }
    columns = actor(rows)
    assert len(columns["stopped"]) == 1 and list(tmp_path.iterdir()) == []
    with pytest.raises(ModelFailed, match=r"blank image too.*illegal memory access") as info:
        raise_if_stopped(columns["stopped"][0])
    assert "--verbose" in info.value.hint
    raise_if_stopped("")  # a batch that went through: nothing raised
