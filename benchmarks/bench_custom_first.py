"""A user's own model on a user's own pictures: the first run, and the PyTorch path on a busy machine.

    python benchmarks/bench_custom_first.py [--images 60] [--rounds 3] [--parts torch,first,route]

The demo weights saved under other class names (helmet, vest, ...) stand for a model fine-tuned on a
user's data; the pictures are 2:1, 4:3 and portrait, made of scenes the model knows. Each run is a
fresh process on an empty or full cache, the contenders in alternation (the load of a shared machine
falls on all of them):

- torch: the first run (`attn-detect FOLDER --model custom.pt`, empty cache): which runtime it chose,
  and on what it was checked (issue #37: the fast runtime, verified on that folder); then
  `--backend torch` (PyTorch leaves a core free, as the stock loop does) against the stock Ultralytics
  loop (`YOLO(ckpt).predict(DIR, stream=True)`), and with --threads set to every core as before;
- first: the first run (empty cache each time: export, check, then the folder) against the stock loop,
  with the OpenVINO export converted through ONNX (the default where the `onnx` package is installed)
  and through OpenVINO's PyTorch frontend (Ultralytics' own conversion);
- route: where a first run's export time goes, in this process: Ultralytics' OpenVINO export of the
  checkpoint by each conversion, static and with dynamic shapes (what the first run makes), alternated;
  the IRs' outputs compared on a 2:1 input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backend import STOCK_LOOP
from bench_start import CLI, wall
from fresh_env import fresh_env  # benchmarks/, on sys.path when a script here runs

NAMES = ["helmet", "vest", "glove", "boot", "mask", "cone", "ladder", "harness"]


def custom_checkpoint(folder: Path) -> Path:
    import torch

    from detect_cli.models.lookup import PACKAGED_DIR

    checkpoint = torch.load(PACKAGED_DIR / "demo.pt", map_location="cpu", weights_only=False)
    checkpoint["model"].names = {i: NAMES[i] for i in range(len(checkpoint["model"].names))}
    path = folder / "site-safety.pt"
    torch.save(checkpoint, path)
    return path


def pictures(folder: Path, n: int) -> Path:
    from detect_cli.demo.scenes import make_scene

    folder.mkdir(parents=True)
    for i in range(n):
        a, b = (make_scene(np.random.default_rng([60, i, k]))[0] for k in range(2))
        picture = [np.hstack([a, b]), np.hstack([a, b[:, :107]]), np.vstack([a, b[:160]])][i % 3]
        cv2.imwrite(str(folder / f"site_{i:04d}.jpg"), picture)
    return folder


# the CLI with the ONNX route of the OpenVINO export switched off: Ultralytics' own conversion
CLI_TORCH_ROUTE = [
    sys.executable,
    "-c",
    "import detect_cli.models.openvino_convert as c; c.onnx_route_available = lambda: False; "
    "from detect_cli.cli.app import run; run()",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="torch", help="torch, first, route (comma-separated)")
    args = parser.parse_args()
    from detect_cli.models.runtime_cache import cpu_name

    work = Path(tempfile.mkdtemp(prefix="bench-custom-"))
    env = fresh_env(work)
    ckpt = custom_checkpoint(work)
    folder = pictures(work / "site", args.images)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); demo weights as classes {', '.join(NAMES[:5])}; 320")
    print(f"{args.images} pictures, 2:1 / 4:3 / portrait; load average before: {_load()}")
    try:
        if "route" in args.parts:
            routes(ckpt, args.rounds)
        if "first" in args.parts:
            first_runs(ckpt, folder, work, env, args.rounds)
        if "torch" in args.parts:
            torch_path(ckpt, folder, work, env, args)
        print(f"load average after: {_load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def first_runs(ckpt: Path, folder: Path, work: Path, env: dict[str, str], rounds: int) -> None:
    """The first run on an empty cache, by each conversion, against the stock loop, alternated."""
    runs = {
        "stock loop": [sys.executable, "-c", STOCK_LOOP, str(ckpt), str(folder), "yolo", "320"],
        "first run, ONNX route": [*CLI, str(folder), "--model", str(ckpt), "--imgsz", "320"],
        "first run, PyTorch frontend": [*CLI_TORCH_ROUTE, str(folder), "--model", str(ckpt), "--imgsz", "320"],
    }
    for name, cmd in runs.items():
        if name != "stock loop":
            cmd += ["--quiet", "--out", str(work / "t.jsonl")]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for k in range(rounds):
        for name, cmd in runs.items():
            (work / "t.jsonl").unlink(missing_ok=True)
            shutil.rmtree(work / "cache", ignore_errors=True)  # every first run exports and checks again
            times[name].append(wall(cmd, env, work))
            if name != "stock loop" and k == 0:
                (decision,) = [json.loads(p.read_text()) for p in (work / "cache" / "backends").glob("*/decision.json")]
                print(f"  {name}: {decision['backend']} ({decision['reason']})")
        print(f"  round {k + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()) + f"; load {_load()}")
    stock = statistics.median(times["stock loop"])
    print(f"\nfirst run (empty cache, export + check + the folder), median of {rounds}, in alternation")
    for name, spent in times.items():
        print(f"  {name:<30} {statistics.median(spent):7.2f} s  ({statistics.median(spent) / stock:.2f}x stock)")


def routes(ckpt: Path, rounds: int) -> None:
    """Ultralytics' OpenVINO export of the checkpoint by each conversion, static and dynamic, alternated."""
    import time

    import openvino as ov

    from detect_cli.models import openvino_convert
    from detect_cli.models.detector import load_detector
    from detect_cli.models.export import FORMATS, export_model
    from detect_cli.models.lookup import resolve_model

    detector = load_detector(resolve_model(str(ckpt)), device="cpu")
    available = openvino_convert.onnx_route_available
    cases = [(route, dynamic) for dynamic in (False, True) for route in ("onnx", "pytorch")]
    times: dict[tuple[str, bool], list[float]] = {case: [] for case in cases}
    outputs: dict[tuple[str, bool], np.ndarray] = {}
    wide = np.random.default_rng(5).random((1, 3, 320, 640), dtype=np.float32)
    for _ in range(rounds):
        for route, dynamic in cases:
            openvino_convert.onnx_route_available = available if route == "onnx" else (lambda: False)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                exported = export_model(detector, FORMATS["openvino"], Path(tmp), imgsz=320, dynamic=dynamic)
                times[(route, dynamic)].append(time.perf_counter() - start)
                if dynamic:
                    model = ov.Core().read_model(next(exported.glob("*.xml")))
                    model.reshape([1, 3, 320, 640])
                    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": ov.Type.f32})
                    outputs[(route, dynamic)] = compiled(wide)[0]
    openvino_convert.onnx_route_available = available
    print(f"\nOpenVINO export of the checkpoint (Ultralytics' exporter), median of {rounds}, in alternation")
    for (route, dynamic), spent in times.items():
        print(f"  {route:8s} {'dynamic' if dynamic else 'static ':8s} {statistics.median(spent):6.2f} s")
    difference = np.abs(outputs[("onnx", True)] - outputs[("pytorch", True)]).max()
    print(f"  dynamic IRs at 320x640: largest output difference {difference:.2e}")


def torch_path(ckpt: Path, folder: Path, work: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    out = work / "first.jsonl"
    first = [*CLI, str(folder), "--model", str(ckpt), "--imgsz", "320", "--out", str(out), "--quiet"]
    first_s = wall(first, env, work)
    header = json.loads(out.read_text().splitlines()[0]) if out.exists() else {}
    (decision,) = [json.loads(p.read_text()) for p in (work / "cache" / "backends").glob("*/decision.json")]
    print(f"\nfirst run (empty cache, export and check included): {first_s:.2f} s")
    print(f"  runtime: {decision['backend']} ({decision['reason']})")
    print(f"  checked on: {decision.get('checked_on')}; header: {header.get('model', {}).get('backend')}")

    every = str(os.cpu_count() or 1)
    runs = {
        "stock loop": [sys.executable, "-c", STOCK_LOOP, str(ckpt), str(folder), "yolo", "320"],
        "--backend torch": [*CLI, str(folder), "--model", str(ckpt), "--imgsz", "320", "--backend", "torch"],
        f"--backend torch --threads {every}": [
            *CLI, str(folder), "--model", str(ckpt), "--imgsz", "320", "--backend", "torch", "--threads", every,
        ],
    }  # fmt: skip
    for cmd in runs.values():
        cmd += [] if cmd[1] == "-c" and cmd[2] == STOCK_LOOP else ["--quiet", "--out", str(work / "t.jsonl")]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, cmd in runs.items():
            (work / "t.jsonl").unlink(missing_ok=True)
            times[name].append(wall(cmd, env, work))
    stock = statistics.median(times["stock loop"])
    print(f"\nPyTorch path, {args.images} pictures (median of {args.rounds}, in alternation)")
    for name, spent in times.items():
        print(f"  {name:<32} {statistics.median(spent):7.2f} s  ({statistics.median(spent) / stock:.2f}x stock)")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
