"""A user's own model on a user's own pictures: the first run, and the PyTorch path on a busy machine.

    python benchmarks/bench_custom_first.py [--images 60] [--rounds 3]

The demo weights saved under other class names (helmet, vest, ...) stand for a model fine-tuned on a
user's data; the pictures are 2:1, 4:3 and portrait, made of scenes the model knows. Each run is a
fresh process on an empty or full cache, the contenders in alternation (the load of a shared machine
falls on all of them):

- the first run (`attn-detect FOLDER --model custom.pt`, empty cache): which runtime it chose, and on
  what it was checked (issue #37: the fast runtime, verified on that folder);
- `--backend torch` (PyTorch leaves a core free, as the stock loop does) against the stock Ultralytics
  loop (`YOLO(ckpt).predict(DIR, stream=True)`), with --threads set to every core as before, for the
  difference that core makes while other work runs.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from detect_cli.models.runtime_cache import cpu_name

    work = Path(tempfile.mkdtemp(prefix="bench-custom-"))
    env = fresh_env(work)
    ckpt = custom_checkpoint(work)
    folder = pictures(work / "site", args.images)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); demo weights as classes {', '.join(NAMES[:5])}; 320")
    print(f"{args.images} pictures, 2:1 / 4:3 / portrait; load average before: {_load()}")
    try:
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
        print(f"load average after: {_load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
