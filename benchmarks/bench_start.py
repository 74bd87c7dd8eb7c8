"""Start-up: a model whose verified OpenVINO export is cached, run as a user runs it, against Ultralytics.

    python benchmarks/bench_start.py [--images 200] [--rounds 5]

Each measurement is a fresh process, the contenders in alternation (so the load of a shared machine
falls on both), on the same checkpoint (the demo model, 320) and images:

- one image, whole process: `attn-detect IMG --model demo` with the cache ready, against
  `yolo predict model=demo.pt source=IMG imgsz=320` (median of --rounds each);
- --images images: the cached run against the stock Ultralytics loop (`YOLO(ckpt).predict(DIR,
  stream=True)`) and against `--backend torch`, with the boxes of the cached run compared with
  PyTorch's (F1 at IoU 0.9, largest confidence difference);
- the first run (empty cache: export, check, then the images) against the stock loop;
- `attn-detect --help` against a bare `python -c pass`.

Python files are byte-compiled once before timing (into a private PYTHONPYCACHEPREFIX), as an
installed package is. Goals (issue #28): one image <= 1.0 s and <= 0.25x `yolo predict`; cached
200 images <= 0.45x the stock loop and <= 0.7x `--backend torch`; first run <= 1.0x the stock loop;
`--help` within 0.12 s of a bare start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backend import STOCK_LOOP, scenes
from fresh_env import fresh_env  # benchmarks/, on sys.path when a script here runs

CLI = [sys.executable, "-c", "from detect_cli.cli.app import run; run()"]


def wall(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return took


def alternate(commands: dict[str, list[str]], rounds: int, env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Median wall time of each command, run in turn `rounds` times."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            times[name].append(wall(cmd, env, cwd))
    return {name: statistics.median(t) for name, t in times.items()}


def agreement(ours: Path, reference: Path) -> tuple[float, float, int]:
    """(F1 at IoU 0.9, largest confidence difference of matched boxes, reference boxes) of two JSONL runs."""
    from detect_cli.core.detections import Detections
    from detect_cli.core.matching import Agreement, match

    def load(path: Path) -> dict[str, Detections]:
        out = {}
        for line in path.read_text().splitlines():
            record = json.loads(line)
            dets = record["detections"]
            boxes = np.array([d["box"] for d in dets]).reshape(-1, 4)
            out[record["source"]] = Detections(boxes, [d["confidence"] for d in dets], [d["class_id"] for d in dets])
        return out

    a, b = load(reference), load(ours)
    total, worst = Agreement(), 0.0
    for source, ref in a.items():
        pairs = match(ref, b[source], 0.9)
        total.add(len(pairs), len(ref), len(b[source]))
        if len(pairs):
            worst = max(worst, float(np.abs(ref.confidence[pairs.a] - b[source].confidence[pairs.b]).max()))
    return total.f1, worst, total.count_a


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--parts", default="first,one,many,help", help="which measurements, comma-separated (default: all)"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    from detect_cli.models.lookup import PACKAGED_DIR
    from detect_cli.models.runtime_cache import cpu_name

    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    env = fresh_env(work)
    ckpt = str(PACKAGED_DIR / "demo.pt")
    folder = scenes(work / "scenes", args.images)
    image = str(folder / "scene_00000.jpg")
    yolo = shutil.which("yolo") or str(Path(sys.executable).parent / "yolo")
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); demo model at 320; every run a fresh process")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other jobs on the machine)")
    try:
        stock = [sys.executable, "-c", STOCK_LOOP, ckpt, str(folder), "yolo", "320"]
        out = work / "r.jsonl"
        first_run = [*CLI, str(folder), "--model", "demo", "--out", str(out), "--quiet"]
        wall(stock, env, work)  # byte-compile, warm the file cache
        if "first" in parts:
            firsts: dict[str, list[float]] = {"stock loop": [], "auto, first run": []}
            for _ in range(max(1, args.rounds // 2)):
                shutil.rmtree(work / "cache", ignore_errors=True)  # an empty cache: export and check included
                firsts["stock loop"].append(wall(stock, env, work))
                firsts["auto, first run"].append(wall(first_run, env, work))
            first = {name: statistics.median(times) for name, times in firsts.items()}
            print(
                f"\nfirst run, {args.images} images (empty cache: export and check included; median of "
                f"{max(1, args.rounds // 2)}, in alternation)"
            )
            print(
                f"  stock loop {first['stock loop']:.2f} s, attn-detect {first['auto, first run']:.2f} s "
                f"({first['auto, first run'] / first['stock loop']:.2f}x)"
            )

        if "one" in parts:
            one = {
                "attn-detect IMG (cached)": [*CLI, image, "--model", "demo", "--quiet"],
                "attn-detect IMG --backend torch": [*CLI, image, "--model", "demo", "--quiet", "--backend", "torch"],
                "yolo predict": [yolo, "predict", f"model={ckpt}", f"source={image}", "imgsz=320"],
            }
            alternate(one, 1, env, work)  # byte-compile everything, warm the file cache
            medians = alternate(one, args.rounds, env, work)
            base = medians["yolo predict"]
            print(f"\none image, whole process (median of {args.rounds}, in alternation)")
            for name, seconds in medians.items():
                print(f"  {name:34s} {seconds:6.2f} s  {seconds / base:5.2f}x yolo predict")

        if "many" in parts:
            wall(first_run, env, work)  # the cache ready (made here if no part before made it)
            many = {
                "stock loop": stock,
                "--backend torch": [
                    *CLI,
                    str(folder),
                    "--model",
                    "demo",
                    "--out",
                    str(work / "t.jsonl"),
                    "--quiet",
                    "--backend",
                    "torch",
                ],
                "auto, cached": [*CLI, str(folder), "--model", "demo", "--out", str(out), "--quiet"],
            }
            medians = alternate(many, max(1, args.rounds // 2), env, work)
            f1, conf_diff, boxes = agreement(out, work / "t.jsonl")
            print(f"\n{args.images} images (median of {max(1, args.rounds // 2)}, in alternation)")
            for name, seconds in medians.items():
                print(
                    f"  {name:18s} {seconds:6.2f} s  {seconds / medians['stock loop']:5.2f}x stock loop  "
                    f"{seconds / medians['--backend torch']:5.2f}x --backend torch"
                )
            print(
                f"  cached boxes vs PyTorch's: F1 {f1:.4f} at IoU 0.9 over {boxes} boxes, confidences within "
                f"{conf_diff:.4f}"
            )

        if "help" in parts:
            starts = alternate(
                {"python -c pass": [sys.executable, "-c", "pass"], "attn-detect --help": [*CLI, "--help"]},
                args.rounds,
                env,
                work,
            )
            extra = starts["attn-detect --help"] - starts["python -c pass"]
            print(
                f"\n--help {starts['attn-detect --help']:.2f} s, bare python {starts['python -c pass']:.2f} s "
                f"(+{extra:.2f} s)"
            )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
