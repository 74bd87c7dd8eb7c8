"""`detect --engine ray`: same records as the local engine, on a local Ray instance and on a
simulated 3-node cluster, surviving a worker killed mid-run."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import SAMPLES

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")  # CI installs it

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


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    marker = tmp_path_factory.mktemp("fault") / "victim"
    os.environ["ATTN_DETECT_FAULT_FILE"] = str(marker)  # workers inherit it (see DetectActor)
    ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")  # fmt: skip
    yield marker
    ray.shutdown()
    os.environ.pop("ATTN_DETECT_FAULT_FILE", None)


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


def test_a_worker_killed_mid_run_loses_nothing(local_ray, mixed: Path) -> None:
    local_ray.write_text("img_07.jpg")  # the actor that reads this input dies once (os._exit)
    code, on_ray, stderr = run(str(mixed), "--model", "yolo26n.yaml", *MODEL, "--engine", "ray", "--actors", "2")
    assert not local_ray.exists(), "the fault was not injected"
    assert code == 3, stderr
    assert [Path(r["source"]).name for r in on_ray] == sorted(p.name for p in mixed.iterdir())  # each once, in order


def test_multi_node_cluster(mixed: Path, tmp_path: Path) -> None:
    """A head with no CPUs and two 1-CPU worker nodes: two actors must run on different nodes."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * 2**20})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
        cluster.wait_for_nodes()
        out = tmp_path / "r.jsonl"
        result = runner.invoke(app, [str(mixed), "--model", "yolo26n.yaml", *MODEL, "--engine", "ray", "--actors",
                                     "2", "--address", cluster.address, "--out", str(out), "--quiet"])  # fmt: skip
        assert result.exit_code == 3, result.stderr
        assert len([n for n in ray.nodes() if n["Alive"]]) == 3
        assert len(out.read_text().splitlines()) == 11
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_unreachable_address_is_one_line_exit_2() -> None:
    result = runner.invoke(app, [str(SAMPLES / "bus.jpg"), "--model", "yolo26n.yaml", "--engine", "ray",
                                 "--address", "127.0.0.1:9"])  # fmt: skip
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
