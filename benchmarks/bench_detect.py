"""attn-detect vs a plain Ultralytics predict loop: same model, threads, images; side by side.

    python benchmarks/bench_detect.py [--model demo] [--images 200] [--imgsz 640]

Prints:
- wall time of the `attn-detect` CLI vs a plain `YOLO(...).predict(path, stream=True)` script, both
  as fresh processes (start-up and model load included), and the ratio (goal <= 1.05);
- the same two loops in-process, after one warm-up image (start-up excluded);
- peak RSS of `attn-detect` on 100 vs 1,000 images (goal <= 1.1x);
- `attn-detect --help` wall time.
Runs offline: the default model is the shipped `demo` if present, else `yolo26n.yaml`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXE = shutil.which("attn-detect", path=os.path.dirname(sys.executable)) or "attn-detect"

PLAIN_LOOP = """
import sys, os, torch
from ultralytics import YOLO, RTDETR
from ultralytics.utils import torch_utils
torch_utils.NUM_THREADS = os.cpu_count(); torch.set_num_threads(os.cpu_count())  # same threads as attn-detect
path, folder, imgsz = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = (RTDETR if "rtdetr" in path else YOLO)(path)
files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
n = 0
for f in files:
    for r in model.predict(f, imgsz=imgsz, conf=0.25, verbose=False, stream=True):
        n += len(r.boxes)
print(n, file=sys.stderr)
"""

MAXRSS = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def model_path(spec: str) -> str:
    if spec == "demo":
        packaged = REPO / "detect_cli" / "weights" / "demo.pt"
        return str(packaged) if packaged.is_file() else "yolo26n.yaml"
    return spec


def make_images(folder: Path, n: int, seed: int = 0) -> Path:
    """n distinct JPEGs: crops and flips of the two sample photos, 480-1080 px."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = [cv2.imread(str(REPO / "sample_images" / name)) for name in ("bus.jpg", "zidane.jpg")]
    for i in range(n):
        img = photos[i % 2]
        h, w = img.shape[:2]
        y, x = int(rng.integers(0, h // 4)), int(rng.integers(0, w // 4))
        crop = img[y : y + 3 * h // 4, x : x + 3 * w // 4]
        if i % 3 == 0:
            crop = crop[:, ::-1]
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), crop)
    return folder


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_cmd(path: str, folder: Path, imgsz: int) -> list[str]:
    return [EXE, str(folder), "--model", path, "--imgsz", str(imgsz), "--format", "jsonl", "--quiet"]


def in_process(path: str, folder: Path, imgsz: int) -> tuple[float, float]:
    from detect_cli.engine import detect_stream
    from detect_cli.models import PredictOptions, load_detector, resolve_model
    from detect_cli.sources import iter_sources

    detector = load_detector(resolve_model(path), device="cpu")
    options = PredictOptions(conf=0.25, imgsz=imgsz)
    files = sorted(folder.iterdir())
    detector._model.predict(str(files[0]), imgsz=imgsz, verbose=False)  # warm-up, both sides share it
    start = time.perf_counter()
    for _ in detect_stream(iter_sources([str(folder)]), detector, options):
        pass
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for f in files:
        for _ in detector._model.predict(str(f), imgsz=imgsz, conf=0.25, verbose=False, stream=True):
            pass
    plain = time.perf_counter() - start
    return ours, plain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    path = model_path(args.model)
    work = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    try:
        folder = make_images(work / "imgs", args.images)
        print(f"model {path}, {args.images} images, imgsz {args.imgsz}, {os.cpu_count()} CPU threads, torch threads = cores")

        plain_script = work / "plain.py"
        plain_script.write_text(PLAIN_LOOP)
        ours, plain = [], []
        for _ in range(args.repeats):  # alternate so machine noise hits both alike
            ours.append(timed(cli_cmd(path, folder, args.imgsz)))
            plain.append(timed([sys.executable, str(plain_script), path, str(folder), str(args.imgsz)]))
        o, p = min(ours), min(plain)
        print(f"fresh process   attn-detect {o:7.2f} s   plain loop {p:7.2f} s   ratio {o / p:.3f}  (goal <= 1.05)")

        o, p = in_process(path, folder, args.imgsz)
        print(f"in-process      attn-detect {o:7.2f} s   plain loop {p:7.2f} s   ratio {o / p:.3f}"
              f"   ({1000 * o / args.images:.1f} vs {1000 * p / args.images:.1f} ms/image)")  # fmt: skip

        if not args.skip_memory:
            small = make_images(work / "m100", 100, seed=1)
            big = work / "m1000"
            big.mkdir()
            for i in range(1000):  # hard links: 1,000 inputs without 1,000 decodes' worth of disk
                os.link(small / f"img_{i % 100:05d}.jpg", big / f"img_{i:05d}.jpg")
            rss = {}
            for name, src in (("100", small), ("1000", big)):
                out = subprocess.run([sys.executable, "-c", MAXRSS, *cli_cmd(path, src, 320)], capture_output=True,
                                     text=True, check=True)  # fmt: skip
                rss[name] = int(out.stdout.strip()) / 1024
            print(f"peak RSS        100 images {rss['100']:.0f} MiB   1,000 images {rss['1000']:.0f} MiB   "
                  f"ratio {rss['1000'] / rss['100']:.3f}  (goal <= 1.1)")  # fmt: skip

        helps = [timed([EXE, "--help"]) for _ in range(5)]
        print(f"--help          median {statistics.median(helps) * 1000:.0f} ms over 5 runs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
