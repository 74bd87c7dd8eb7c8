"""The picture's own shape: accuracy and cost of the square letterbox against the rect one.

    python benchmarks/bench_shape.py [--n 100] [--models demo,demo-rtdetr] [--frames 60] [--parts accuracy,cost]

accuracy: labelled scenes drawn at 2:1 (640x320), 1:2 (320x640), 4:3 (640x480) and 16:9 (640x360),
`--n` of each (seed 11: neither training's nor the gate's), shapes scaled with the long side as
`demo/scenes.py` draws them; each model predicts them at imgsz 320 through `Detector.predict` (PyTorch)
with `letterbox: square` and `letterbox: rect`, at conf 0.001; mAP50 and mAP50-95 per aspect and over all
(faster-coco-eval, `core/coco_map.py`). The OpenVINO runner gives the same boxes at each letterbox
(tests/models/test_openvino_direct.py).

cost: the OpenVINO export the first run makes (dynamic shapes, our runner), preprocess + inference per
frame (median, frames alternated): a square 320x320 frame, and a 2:1 frame of the same height (640x320)
at the square letterbox (today) and at the rect one. Ratios are to the square frame, in one run.
The CPU and the load average are printed: on a shared machine, run it more than once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detect_cli.core.coco_map import mean_map
from detect_cli.core.detections import Detections
from detect_cli.demo.scenes import CLASSES, make_scene
from detect_cli.models.detector import PredictOptions, load_detector, runs_rect
from detect_cli.models.export import FORMATS, export_model
from detect_cli.models.lookup import resolve_model
from detect_cli.models.openvino_direct import open_openvino
from detect_cli.models.runtime_cache import cpu_name

ASPECTS = {"2:1": (640, 320), "1:2": (320, 640), "4:3": (640, 480), "16:9": (640, 360)}
SEED = 11
IMGSZ = 320


def scenes(size: tuple[int, int], n: int) -> list[tuple[np.ndarray, Detections]]:
    out = []
    for i in range(n):
        image, labels = make_scene(np.random.default_rng([SEED, i]), size)
        boxes = np.array([b[1:] for b in labels], np.float32).reshape(-1, 4)
        truth = Detections(boxes, np.ones(len(labels), np.float32), np.array([b[0] for b in labels], np.int64))
        out.append((image, truth))
    return out


def accuracy(spec: str, n: int) -> None:
    detector = load_detector(resolve_model(spec))
    data = {name: scenes(size, n) for name, size in ASPECTS.items()}
    auto = "rect" if runs_rect(detector.ref.family, "auto") else "square"
    print(f"\n{spec}: mAP50 / mAP50-95 at imgsz {IMGSZ}, {n} scenes per aspect (auto = {auto})")
    scores = {}
    for letterbox in ("square", "rect"):
        options = PredictOptions(conf=0.001, imgsz=IMGSZ, letterbox=letterbox)
        start, everything, row = time.perf_counter(), [], []
        for name, items in data.items():
            pairs = [(truth, detector.predict([image], options)[0][0], image.shape[:2]) for image, truth in items]
            m50, m = mean_map(pairs, list(range(len(CLASSES))))
            row.append(f"{name} {m50:.4f}/{m:.4f}")
            everything += pairs
        scores[letterbox] = mean_map(everything, list(range(len(CLASSES))))
        m50, m = scores[letterbox]
        print(f"  {letterbox:6s} all {m50:.4f}/{m:.4f} | {'  '.join(row)}  ({time.perf_counter() - start:.0f} s)")
    d50 = scores["rect"][0] - scores["square"][0]
    d = scores["rect"][1] - scores["square"][1]
    print(f"  rect - square: mAP50 {d50:+.4f}, mAP50-95 {d:+.4f}")


def cost(spec: str, frames: int) -> None:
    detector = load_detector(resolve_model(spec))
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_model(detector, FORMATS["openvino"], Path(tmp), imgsz=IMGSZ, dynamic=True)
        runner = open_openvino(next(folder.glob("*.xml")), detector)
        square_frame = make_scene(np.random.default_rng([SEED, 0]), (320, 320))[0]
        wide_frame = make_scene(np.random.default_rng([SEED, 0]), (640, 320))[0]
        cases = {
            "square frame 320x320": (square_frame, "square"),
            "2:1 frame 640x320, square letterbox": (wide_frame, "square"),
            "2:1 frame 640x320, rect letterbox": (wide_frame, "rect"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for image, letterbox in cases.values():  # warm-up, and the rect shape compiled
            runner.predict([image], PredictOptions(imgsz=IMGSZ, letterbox=letterbox))
        for _ in range(frames):
            for name, (image, letterbox) in cases.items():
                ((_, timing),) = runner.predict([image], PredictOptions(imgsz=IMGSZ, letterbox=letterbox))
                times[name].append(timing.preprocess + timing.inference)
    base = statistics.median(times["square frame 320x320"])
    print(f"\n{spec}: OpenVINO (our runner, dynamic export), preprocess + inference per frame, median of {frames}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:38s} {median:7.2f} ms  {median / base:.2f}x the square frame")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="scenes per aspect")
    p.add_argument("--models", default="demo,demo-rtdetr")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--parts", default="accuracy,cost")
    args = p.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); load average {os.getloadavg()[0]:.2f}")
    for spec in args.models.split(","):
        if "cost" in args.parts:
            cost(spec, args.frames)
        if "accuracy" in args.parts:
            accuracy(spec, args.n)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
