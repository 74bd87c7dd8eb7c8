"""Out-of-the-box speed: `attn-detect DIR --out r.jsonl` (auto runtime: first run with export and
verification, then the cached run) and `--backend torch`, against the loop a user writes with
Ultralytics' defaults (`YOLO(ckpt).predict(DIR, stream=True)`, stock threads), same checkpoint and
images, each in a fresh process. Prints wall time, time to the first result and peak RSS.

    python benchmarks/bench_backend.py [--images 200] [--models demo,yolo26n,rtdetr-l]

yolo26n and rtdetr-l are random-weight checkpoints saved from their YAMLs (no weights can be
downloaded here) at 640; demo runs at its own 320. Goal: cached run <= 0.35x the stock loop where
OpenVINO gains 2.4x, never slower than --backend torch; first run <= 1.0x the stock loop.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import make_images

STOCK_LOOP = """
import sys, time
start = time.perf_counter()
from ultralytics import RTDETR, YOLO
cls = RTDETR if sys.argv[3] == "rtdetr" else YOLO
first = None
for result in cls(sys.argv[1]).predict(sys.argv[2], stream=True, verbose=False, imgsz=int(sys.argv[4])):
    first = first or time.perf_counter() - start
print(f"FIRST {first}", file=sys.stderr)
"""


def measure(cmd: list[str], out_file: Path | None, env: dict[str, str]) -> dict[str, float]:
    """Wall time, time to the first result (first line in out_file, or FIRST printed by the loop), peak RSS."""
    if out_file is not None and out_file.exists():
        out_file.unlink()
    first: list[float] = []
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)

    def watch() -> None:
        while proc.poll() is None and out_file is not None:
            if out_file.exists() and b"\n" in out_file.read_bytes()[:65536]:
                first.append(time.perf_counter() - start)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    watcher.join(1)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    if out_file is None:
        first = [float(line.split()[1]) for line in stderr.splitlines() if line.startswith("FIRST ")]
    return {"wall": wall, "first": first[0] if first else float("nan"), "rss_mb": usage.ru_maxrss / 1024}


def checkpoint(spec: str, work: Path) -> tuple[str, str, int]:
    """(path, family, imgsz): the shipped demo, or a random-weight checkpoint saved from a YAML."""
    from detect_cli.models.lookup import PACKAGED_DIR

    if spec == "demo":
        return str(PACKAGED_DIR / "demo.pt"), "yolo", 320
    from ultralytics import RTDETR, YOLO

    family = "rtdetr" if spec.startswith("rtdetr") else "yolo"
    path = work / f"{spec}-random.pt"
    (RTDETR if family == "rtdetr" else YOLO)(f"{spec}.yaml").save(path)
    return str(path), family, 640


def scenes(folder: Path, n: int) -> Path:
    import cv2

    from detect_cli.demo.scenes import make_scene

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"scene_{i:05d}.jpg"), make_scene(np.random.default_rng([4242, i]))[0])
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--models", default="demo,yolo26n,rtdetr-l")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from detect_cli.models.runtime import cpu_name

    work = Path(tempfile.mkdtemp(prefix="bench-backend-"))
    env = {**os.environ, "ATTN_DETECT_CACHE_DIR": str(work / "cache")}
    env.pop("ATTN_DETECT_BACKEND", None)
    cli = [sys.executable, "-c", "from detect_cli.cli.app import run; run()"]
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); {args.images} images per run; each run a fresh process")
    try:
        for spec in args.models.split(","):
            path, family, imgsz = checkpoint(spec, work)
            folder = (
                scenes(work / "scenes", args.images) if spec == "demo" else make_images(work / "photos", args.images)
            )
            out = work / "r.jsonl"
            tool = [*cli, str(folder), "--model", path, "--out", str(out), "--quiet"]
            runs = {
                "stock loop": measure(
                    [sys.executable, "-c", STOCK_LOOP, path, str(folder), family, str(imgsz)], None, env
                ),
                "--backend torch": measure([*tool, "--backend", "torch"], out, env),
                "auto, first run": measure(tool, out, env),
                "auto, cached": measure(tool, out, env),
            }
            runtime = _chosen(work / "cache")
            base = runs["stock loop"]["wall"]
            print(f"\n{spec} at {imgsz} (auto chose: {runtime})")
            print(f"  {'run':18s} {'wall s':>8s} {'x stock':>8s} {'first s':>8s} {'peak RSS MB':>12s}")
            for name, r in runs.items():
                print(f"  {name:18s} {r['wall']:8.2f} {r['wall'] / base:8.2f} {r['first']:8.2f} {r['rss_mb']:12.0f}")
            shutil.rmtree(work / "scenes", ignore_errors=True)
            shutil.rmtree(work / "photos", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _chosen(cache: Path) -> str:
    """The newest decision in the runtime cache: what auto chose for the model just run, and why."""
    import json

    decisions = sorted(cache.glob("backends/*/decision.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(decisions[-1].read_text())["reason"] if decisions else "?"


if __name__ == "__main__":
    main()
