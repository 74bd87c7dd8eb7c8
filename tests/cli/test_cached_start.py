"""A model whose verified OpenVINO export is cached runs without importing torch or Ultralytics.

Real processes, as a user starts them: a fresh Ultralytics config dir, a runtime cache holding the
demo model's verified export, then every run inspected at exit (`sys.modules`, not time). Tracking
may load Ultralytics' trackers; nothing else may.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import detect_cli
from detect_cli.demo.scenes import make_scene
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
SHAPES = SAMPLES / "shapes"
IMAGE = str(SHAPES / "shape_00003.jpg")
HEAVY = ("torch", "ultralytics")
# a local file needs no URL reader, and Typer needs no Pydantic for the values of a usual run (cli/plain_values.py)
NOT_NEEDED = ("urllib.request", "http.client", "ssl", "pydantic")
PROBE = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["PROBE_OUT"], "w").write(json.dumps(sorted(sys.modules))))
if os.environ.get("ANY_SPEED_GAIN"):  # a first run that must keep its export whatever the machine's load
    from detect_cli.models import runtime_trial
    runtime_trial.MIN_GAIN = runtime_trial.GOOD_ENOUGH = 0.0
from detect_cli.cli.app import run
run()
"""


class Runs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "ATTN_DETECT_CACHE_DIR": str(root / "cache"),
            "YOLO_CONFIG_DIR": str(root / "yolo"),
            "PROBE_OUT": str(root / "modules.json"),
        }
        self.env.pop("ATTN_DETECT_BACKEND", None)

    def __call__(self, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
            cwd=self.root,
        )
        modules = set(json.loads((self.root / "modules.json").read_text()))
        return done, modules


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, demo_export_cache: Path) -> Runs:
    """From the session's verified export of demo (conftest; the first run that makes it, in a real
    process too, is tests/models/test_runtime.py's subject)."""
    made = Runs(tmp_path_factory.mktemp("instant"))
    shutil.copytree(demo_export_cache, made.root / "cache", symlinks=True)
    first, _ = made(IMAGE, "--model", "demo", "--format", "json")
    assert first.returncode == 0, first.stderr
    (decision,) = (made.root / "cache" / "backends").glob("*/decision.json")
    assert json.loads(decision.read_text())["runner"] == "direct"
    return made


def _video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 320))
    for i in range(5):
        writer.write(make_scene(np.random.default_rng([3, i]))[0])
    writer.release()
    return path


def test_a_cached_run_imports_neither_torch_nor_ultralytics(runs: Runs) -> None:
    (runs.root / "yolo" / "Ultralytics" / "settings.json").unlink(missing_ok=True)  # the first run wrote it
    done, modules = runs(IMAGE, "--model", "demo", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert not modules & set(HEAVY), modules & set(HEAVY)
    assert not modules & set(NOT_NEEDED), modules & set(NOT_NEEDED)
    assert not (runs.root / "yolo" / "Ultralytics" / "settings.json").exists()  # it would write it again
    doc = json.loads(done.stdout)
    assert doc["model"]["backend"]["name"] == "openvino" and "verified F1" in doc["model"]["backend"]["reason"]
    torch_run, _ = runs(IMAGE, "--model", "demo", "--format", "json", "--backend", "torch")
    boxes = [
        sorted((d["class_id"], d["box"]) for d in json.loads(r.stdout)["images"][0]["detections"])
        for r in (done, torch_run)
    ]
    assert len(boxes[0]) == len(boxes[1]) >= 3
    assert all(a[0] == b[0] and np.allclose(a[1], b[1], atol=1.0) for a, b in zip(*boxes))


@pytest.mark.parametrize(
    "args",
    [
        ["--slice", "160x160", "--format", "jsonl"],
        ["--save", "{root}/saved", "--format", "jsonl"],
        ["--classes", "circle,ring", "--conf", "0.5", "--max-det", "2", "--format", "jsonl"],
        ["{video}", "--format", "jsonl"],
        ["--out", "{root}/r.jsonl"],
        ["evaluate", str(SHAPES), "--labels", str(SHAPES / "labels")],
    ],
    ids=["slice", "save", "classes", "video", "out", "evaluate"],
)
def test_every_stage_runs_on_the_cached_export_without_torch(runs: Runs, args: list[str]) -> None:
    video = _video(runs.root / "clip.mp4")
    args = [a.format(root=runs.root, video=video) for a in args]
    if args[0] == "evaluate":
        args = [*args, "--model", "demo"]
    else:
        args = [IMAGE, *args, "--model", "demo"]
    shutil.rmtree(runs.root / "saved", ignore_errors=True)
    (runs.root / "r.jsonl").unlink(missing_ok=True)
    done, modules = runs(*args)
    assert done.returncode == 0, done.stderr
    assert not modules & set(HEAVY), modules & set(HEAVY)
    if "--save" in args:
        assert list((runs.root / "saved").iterdir())
    if "--classes" in args:
        records = [json.loads(line) for line in done.stdout.splitlines()]
        assert all(d["class_name"] in {"circle", "ring"} and d["confidence"] > 0.5 for d in records[0]["detections"])
        assert 1 <= len(records[0]["detections"]) <= 2


def test_resume_and_tracking_work_on_the_cached_export(runs: Runs) -> None:
    video = str(_video(runs.root / "clip2.mp4"))
    out = runs.root / "resumed.jsonl"
    out.unlink(missing_ok=True)
    first, _ = runs(IMAGE, "--model", "demo", "--out", str(out))
    assert first.returncode == 0, first.stderr
    resumed, modules = runs(IMAGE, IMAGE, "--model", "demo", "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not modules & set(HEAVY)
    assert len(out.read_text().splitlines()) == 2
    tracked, _ = runs(video, "--model", "demo", "--track", "--format", "jsonl")  # may load Ultralytics' trackers
    assert tracked.returncode == 0, tracked.stderr
    frames = [json.loads(line) for line in tracked.stdout.splitlines()]
    assert len(frames) == 5 and any(d.get("track_id") is not None for f in frames for d in f["detections"])


def test_a_cached_compare_imports_neither_torch_nor_ultralytics(runs: Runs) -> None:
    """The parameter count and GFLOPs come from the model facts the first compare recorded."""
    args = ["compare", str(SHAPES), "--models", "demo,demo-rtdetr", "--json"]
    # demo-rtdetr's first run (kept on its export at any speed: a loaded machine would keep PyTorch, and the
    # cached run would import it); demo's GFLOPs measured on its checkpoint
    first, modules = runs(*args, ANY_SPEED_GAIN="1")
    assert first.returncode == 0, first.stderr
    assert "torch" in modules
    cached, modules = runs(*args)
    assert cached.returncode == 0, cached.stderr
    assert not modules & set(HEAVY), modules & set(HEAVY)
    profiles = [
        [(m["name"], m["params_m"], m["gflops"]) for m in json.loads(r.stdout)["summary"]["models"]]
        for r in (first, cached)
    ]
    assert profiles[0] == profiles[1] and all(p > 1 and g > 1 for _, p, g in profiles[1])
    torch_run, _ = runs(*args, "--backend", "torch")
    assert [(m["params_m"], m["gflops"]) for m in json.loads(torch_run.stdout)["summary"]["models"]] == [
        (p, g) for _, p, g in profiles[1]
    ]


PYTHON_PROBE = """
import json, sys
import detect_cli
model = detect_cli.Model("demo")
results = model(sys.argv[1])
print(json.dumps({"boxes": len(results[0].boxes), "runtime": model.detector.backend,
                  "heavy": sorted(m for m in ("torch", "ultralytics") if m in sys.modules)}))
"""


def test_a_python_model_on_the_cached_export_imports_neither_torch_nor_ultralytics(runs: Runs) -> None:
    """detect_cli.Model opens the model as the CLI does: the cached, verified export, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", PYTHON_PROBE, IMAGE], env=runs.env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"boxes": seen["boxes"], "runtime": "openvino", "heavy": []} and seen["boxes"] >= 3


def test_an_edited_model_record_never_changes_the_results(runs: Runs, tmp_path: Path) -> None:
    """<cache>/models/<sha256>.json with the class names swapped, or another size, is checked against
    the decision that runs the export: the checkpoint is loaded, its own facts win, the record is
    rewritten from it, and the run says so; the results are those of the untouched cache."""
    copy = Runs(tmp_path)  # a cache of its own: the other tests keep theirs
    shutil.copytree(runs.root / "cache", tmp_path / "cache")
    demo = Path(detect_cli.__file__).parent / "demo" / "weights" / "demo.pt"  # its record, not another test model's
    record = tmp_path / "cache" / "models" / f"{hashlib.sha256(demo.read_bytes()).hexdigest()}.json"
    true = json.loads(record.read_text())
    args = (IMAGE, "--model", "demo", "--format", "json")
    plain, _ = copy(*args)
    assert plain.returncode == 0, plain.stderr
    expected = json.loads(plain.stdout)
    names = true["names"]
    for edit, said in (
        ({"names": {**names, "0": names["1"], "1": names["0"]}}, "(names)"),
        ({"imgsz": 640}, "(imgsz)"),
        ({"stride": 64}, "(stride)"),
        ({"end2end": False}, "(end2end)"),
    ):
        record.write_text(json.dumps({**true, **edit}))
        done, _ = copy(*args)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["model"]["names"] == expected["model"]["names"] and doc["settings"]["imgsz"] == 320, edit
        assert doc["images"][0]["detections"] == expected["images"][0]["detections"], edit
        assert f"the runtime cache's record of demo was wrong {said}" in " ".join(done.stderr.split())
        rewritten = json.loads(record.read_text())  # GFLOPs a compare counted go with a bad record
        assert {k: v for k, v in rewritten.items() if k != "gflops"} == {k: v for k, v in true.items() if k != "gflops"}
