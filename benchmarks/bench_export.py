"""ms/image of PyTorch vs ONNX Runtime vs OpenVINO, same model, images and threads, side by side.

    python benchmarks/bench_export.py [--images 50]

Models: yolo26n (its YAML: the same network as yolo26n.pt, random weights, at 640) and the shipped
`demo` model (at 320). Exports go to a temporary folder. Goal: ONNX >= 1.5x faster than PyTorch.
Needs the runtimes: pip install "attn-detect[onnx,openvino]".
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import REPO, make_images


def ms_per_image(detector, images, options) -> float:
    detector.predict([images[0]], options)  # warm-up
    start = time.perf_counter()
    for image in images:
        detector.predict([image], options)
    return (time.perf_counter() - start) * 1e3 / len(images)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import cv2

    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.export import FORMATS, export_model, load_exported
    from detect_cli.models.lookup import resolve_model

    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        images = [cv2.imread(str(p)) for p in sorted(make_images(work / "imgs", args.images).iterdir())]
        models = [("yolo26n", "yolo26n.yaml", 640)]
        if (REPO / "detect_cli" / "weights" / "demo.pt").is_file():
            models.append(("demo", "demo", 320))
        formats = [f for f in ("onnx", "openvino") if all(importlib.util.find_spec(m) for m in FORMATS[f].modules)]
        print(f"{args.images} images, torch threads = {os.cpu_count()} cores; formats: pytorch, {', '.join(formats)}")
        for label, spec, imgsz in models:
            original = load_detector(resolve_model(spec), device="cpu")
            options = PredictOptions(conf=0.25, imgsz=imgsz)
            timings = {"pytorch": ms_per_image(original, images, options)}
            for fmt in formats:
                path = export_model(original, FORMATS[fmt], work / f"{label}-{fmt}", imgsz=imgsz)
                exported = load_exported(path, original.ref.family)
                timings[fmt] = ms_per_image(exported, images, options)
            base = timings["pytorch"]
            cells = "   ".join(f"{k} {v:6.1f} ms ({base / v:.2f}x)" for k, v in timings.items())
            print(f"{label:8s} imgsz {imgsz}:  {cells}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
