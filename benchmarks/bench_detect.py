"""attn-detect vs a plain Ultralytics predict loop: same model, threads, images; side by side.

    python benchmarks/bench_detect.py [--model demo] [--images 200] [--imgsz 640]

Prints:
- wall time of the `attn-detect` CLI vs a plain `YOLO(...).predict(path, stream=True)` script, both
  as fresh processes (start-up and model load included), and the ratio (goal <= 1.05);
- the same two loops in-process, after one warm-up image (start-up excluded);
- peak RSS of `attn-detect` on 100 vs 1,000 vs 10,000 inputs (goal <= 1.1x each step);
- the delay before the first result on a 100,000-file folder vs a 1-file folder (goal < 1 s);
- `attn-detect --help` wall time.
Runs offline: the default model is the shipped `demo` if present, else `yolo26n.yaml`.
"""

from __future__ import annotations

import argparse
import itertools
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


def make_images(folder: Path, n: int, seed: int = 0, longest: int | None = None) -> Path:
    """n distinct JPEGs: crops and flips of the two sample photos, 480-1080 px (or resized so the
    longest side is `longest`)."""
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
        if longest:
            scale = longest / max(crop.shape[:2])
            crop = cv2.resize(crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)))
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), crop)
    return folder


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_cmd(path: str, folder: Path, imgsz: int) -> list[str]:
    return [EXE, str(folder), "--model", path, "--imgsz", str(imgsz), "--format", "jsonl", "--quiet"]


def in_process(path: str, folder: Path, imgsz: int) -> tuple[float, float]:
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.lookup import resolve_model
    from detect_cli.pipeline.engine import detect_stream

    detector = load_detector(resolve_model(path), device="cpu")
    from ultralytics import RTDETR, YOLO  # after load_detector: Ultralytics set up through our door first

    options = PredictOptions(conf=0.25, imgsz=imgsz)
    files = sorted(folder.iterdir())
    plain_model = (RTDETR if detector.ref.family == "rtdetr" else YOLO)(detector.ref.path)  # as PLAIN_LOOP loads it
    detector.predict([cv2.imread(str(files[0]))], options)  # one warm-up image each
    plain_model.predict(str(files[0]), imgsz=imgsz, verbose=False)
    start = time.perf_counter()
    for _ in detect_stream(iter_sources([str(folder)]), detector, options):
        pass
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for f in files:
        for _ in plain_model.predict(str(f), imgsz=imgsz, conf=0.25, verbose=False, stream=True):
            pass
    plain = time.perf_counter() - start
    return ours, plain


def peak_rss_by_count(path: str, work: Path, counts: list[int]) -> dict[int, float]:
    """Peak RSS (MiB) of `attn-detect` over N inputs: hard links to 100 distinct 320-px images, imgsz 160."""
    distinct = make_images(work / "rss-src", 100, seed=1, longest=320)
    rss = {}
    for n in counts:
        folder = work / f"rss-{n}"
        folder.mkdir()
        for i in range(n):
            os.link(distinct / f"img_{i % 100:05d}.jpg", folder / f"img_{i:06d}.jpg")
        cmd = [
            sys.executable,
            "-c",
            MAXRSS,
            EXE,
            str(folder),
            "--model",
            path,
            "--imgsz",
            "160",
            "--format",
            "jsonl",
            "--quiet",
        ]
        rss[n] = int(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()) / 1024
        shutil.rmtree(folder)
    return rss


def first_result_delay(path: str, work: Path, n_files: int) -> tuple[float, float]:
    """Seconds from start to the first JSONL record: a 1-file folder vs `n_files` empty stand-ins
    in 100 sub-folders (each an error record); the difference is what enumeration costs."""
    one = work / "first-1"
    one.mkdir()
    (one / "a.jpg").write_bytes(b"")
    many = work / "first-many"
    for i in range(n_files):
        sub = many / f"d{i % 100:03d}"
        if i < 100:
            sub.mkdir(parents=True)
        (sub / f"f{i:06d}.jpg").write_bytes(b"")

    def first_line_s(folder: Path) -> float:
        start = time.perf_counter()
        cmd = [EXE, str(folder), "-r", "--model", path, "--format", "jsonl", "--quiet"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        proc.stdout.readline()
        elapsed = time.perf_counter() - start
        proc.kill()
        proc.wait()
        return elapsed

    return min(first_line_s(one) for _ in range(2)), min(first_line_s(many) for _ in range(2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--rss-counts", default="100,1000,10000", help="input counts for the peak-RSS runs")
    parser.add_argument("--first-result-files", type=int, default=100_000, help="0 skips the start-up test")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    path = model_path(args.model)
    work = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    try:
        folder = make_images(work / "imgs", args.images)
        print(f"model {path}, {args.images} images, imgsz {args.imgsz}, torch threads = {os.cpu_count()} cores")

        plain_script = work / "plain.py"
        plain_script.write_text(PLAIN_LOOP)
        ours, plain = [], []
        for _ in range(args.repeats):  # alternate so machine noise hits both alike
            ours.append(timed(cli_cmd(path, folder, args.imgsz)))
            plain.append(timed([sys.executable, str(plain_script), path, str(folder), str(args.imgsz)]))
        o, p = min(ours), min(plain)
        print(f"fresh process   attn-detect {o:7.2f} s   plain loop {p:7.2f} s   ratio {o / p:.3f}  (goal <= 1.05)")

        o, p = in_process(path, folder, args.imgsz)
        print(
            f"in-process      attn-detect {o:7.2f} s   plain loop {p:7.2f} s   ratio {o / p:.3f}"
            f"   ({1000 * o / args.images:.1f} vs {1000 * p / args.images:.1f} ms/image)"
        )

        if not args.skip_memory:
            rss = peak_rss_by_count(path, work, [int(n) for n in args.rss_counts.split(",")])
            counts = sorted(rss)
            for small, big in itertools.pairwise(counts):
                print(
                    f"peak RSS        {small:,} images {rss[small]:.0f} MiB   {big:,} images {rss[big]:.0f} MiB   "
                    f"ratio {rss[big] / rss[small]:.3f}  (goal <= 1.1)"
                )

        if args.first_result_files:
            one, many = first_result_delay(path, work, args.first_result_files)
            print(
                f"first result    1-file folder {one:.2f} s   {args.first_result_files:,}-file folder {many:.2f} s   "
                f"enumeration delay {many - one:+.2f} s  (goal < 1 s)"
            )

        helps = [timed([EXE, "--help"]) for _ in range(5)]
        print(f"--help          median {statistics.median(helps) * 1000:.0f} ms over 5 runs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
