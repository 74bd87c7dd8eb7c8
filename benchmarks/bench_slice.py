"""Sliced inference on large generated scenes (`--slice`): accuracy, the merge defaults, speed, memory.

    python benchmarks/bench_slice.py [--n 50] [--timed 6] [--models demo,demo-rtdetr] [--threads 0]

1. mAP50 / mAP50-95 (`detect_cli.evaluation.metrics`, as `evaluate` scores) of each demo model full-frame
   and sliced (`--slice auto`: 320-px tiles, overlap 0.2) on `--n` large scenes (1920x1920 and
   3000x2000 in turn, shapes of 10-40 px), for every merge setting: the tiles and the full pass run
   once per image, and each setting merges the same raw boxes (a memo under the wrapped detector),
   so the settings are compared on identical model outputs. `--max-det` (300) bounds each tile; the
   last row adds the old cap of 300 boxes per merged image (`--max-det-image 300`, issue #33).
2. Time per image of the sliced run (defaults, conf 0.25) on the first `--timed` scenes against
   (number of tiles x one tile's bare `Detector.predict`), interleaved image by image.
3. Peak RSS of `attn-detect detect --slice auto` on one 10,000 x 10,000 JPEG, in a fresh process.

Goals: sliced demo mAP50 >= 0.85 where full-frame is below 0.5; time <= 1.2x the tiles' bare
inference; RSS under 2 GB at 10k x 10k.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from detect_cli.demo.large_scenes import make_large_scene, write_large_dataset
from detect_cli.evaluation.metrics import Labels, evaluate
from detect_cli.evaluation.predictions import Prediction
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.lookup import resolve_model
from detect_cli.models.runtime import cpu_name
from detect_cli.pipeline.slicing import SlicedDetector, SliceOptions

MAP_CONF = 0.001
SETTINGS = [
    SliceOptions(None, 0.2, full, merge, match)
    for full, merge, match in itertools.product((False, True), ("nms", "nmm"), ("iou", "ios"))
]
SETTINGS.append(SliceOptions(None, max_det_image=300))  # the defaults under the old cap: 300 per merged image


class Memo:
    """The wrapped detector's outputs kept per image buffer, so each merge setting reuses one tile pass."""

    def __init__(self, detector) -> None:  # type: ignore[no-untyped-def]
        self.detector, self.names, self.cache = detector, detector.names, {}

    def predict(self, images, options):  # type: ignore[no-untyped-def]
        keys = [(im.__array_interface__["data"][0], im.shape, im.strides) for im in images]
        todo = [k for k, key in enumerate(keys) if key not in self.cache]
        if todo:
            for k, out in zip(todo, self.detector.predict([images[k] for k in todo], options)):
                self.cache[keys[k]] = out
        return [self.cache[key] for key in keys]


def accuracy(detector, folder: Path, options: PredictOptions) -> dict[str, tuple[float, float]]:  # type: ignore[no-untyped-def]
    labels = Labels.load(folder / "labels", detector.names)
    memo = Memo(detector)
    runs = {"full-frame": detector, **{s.describe(): SlicedDetector(memo, s, batch=1) for s in SETTINGS}}
    predictions: dict[str, list[Prediction]] = {name: [] for name in runs}
    for path in sorted((folder / "images").iterdir()):
        image = cv2.imread(str(path))
        for name, run in runs.items():
            ((detections, _),) = run.predict([image], options)
            predictions[name].append(Prediction(path.name, str(path), image.shape[1], image.shape[0], detections))
        memo.cache.clear()
    return {
        name: (r.overall.map50, r.overall.map50_95)
        for name, r in ((n, evaluate(p, labels)) for n, p in predictions.items())
    }


def speed(detector, images: list[np.ndarray], options: PredictOptions) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """(sliced ms per image, tiles x one tile's bare ms (its mean over the image's tiles), mean tiles per
    image), interleaved image by image so load on the machine hits both alike."""
    sliced = SlicedDetector(detector, SliceOptions(), batch=1)
    sliced.predict([images[0]], options)  # warm-up
    sliced_ms, bare_ms, counts = [], [], []
    for image in images:
        windows = sliced.windows(image, options)
        views = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in windows]
        start = time.perf_counter()
        sliced.predict([image], options)
        sliced_ms.append((time.perf_counter() - start) * 1e3)
        one = []
        for view in views:
            start = time.perf_counter()
            detector.predict([view], options)
            one.append((time.perf_counter() - start) * 1e3)
        bare_ms.append(float(np.mean(one)) * len(views))
        counts.append(len(views))
    return float(np.mean(sliced_ms)), float(np.mean(bare_ms)), round(float(np.mean(counts)))


def peak_rss_mb(work: Path, threads: int) -> float:
    """Peak RSS of the CLI on one 10k x 10k scene (a 1920-px scene repeated), in a fresh process."""
    scene, _ = make_large_scene(np.random.default_rng(0), 2000, 2000)
    big = np.tile(scene, (5, 5, 1))
    path = work / "big_10k.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    del big
    cli = [
        sys.executable,
        "-m",
        "detect_cli",
        "detect",
        str(path),
        "-m",
        "demo",
        "--slice",
        "auto",
        "--backend",
        "torch",
        "--threads",
        str(threads),
        "--format",
        "jsonl",
        "--quiet",
        "--no-progress",
    ]
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *cli], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="large scenes scored")
    parser.add_argument("--timed", type=int, default=6, help="scenes timed")
    parser.add_argument("--models", default="demo,demo-rtdetr")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    print(
        f"CPU: {cpu_name()} ({os.cpu_count()} cores); {args.n} scenes scored, {args.timed} timed; torch, "
        f"threads {args.threads or 'all'}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-slice-") as scratch:
        work = Path(scratch)
        folder = write_large_dataset(work / "scenes", args.n, seed=2024, ext="jpg")
        if not args.skip_rss:
            rss = peak_rss_mb(work, args.threads)
            print(f"peak RSS, detect --slice auto on 10,000 x 10,000 (demo, 1521 tiles): {rss:.0f} MB (goal < 2048)")
        timed = [cv2.imread(str(p)) for p in sorted((folder / "images").iterdir())[: args.timed]]
        for spec in args.models.split(","):
            detector = load_detector(resolve_model(spec), device="cpu", threads=args.threads)
            options = PredictOptions(conf=MAP_CONF, imgsz=detector.run_imgsz(None)[0])
            print(f"\n{spec} (runs at {options.imgsz}): mAP50 / mAP50-95 on {args.n} scenes")
            for name, (m50, m5095) in accuracy(detector, folder, options).items():
                print(f"  {name:<40} {m50:6.3f}  {m5095:6.3f}")
            sliced_ms, bare_ms, tiles = speed(detector, timed, replace(options, conf=0.25))
            print(
                f"  time per image, sliced (defaults): {sliced_ms:.0f} ms; {tiles} tiles x one tile's bare "
                f"inference: {bare_ms:.0f} ms; ratio {sliced_ms / bare_ms:.2f} (goal <= 1.2)"
            )
    print(f"(bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
