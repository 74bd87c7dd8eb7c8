"""The cost of attention maps: ms/image of plain detection vs `explain` (hooks + maps), and with
Ultralytics' LayerCAM, per family, on the same images and threads.

    python benchmarks/bench_attention.py [--images 20]

Models: the shipped demo models (demo, demo-rtdetr) where present, else YOLO26n / RT-DETR-l YAMLs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import REPO


def per_image_ms(fn, images) -> float:
    fn(images[0])  # warm-up
    start = time.perf_counter()
    for image in images:
        fn(image)
    return (time.perf_counter() - start) * 1e3 / len(images)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from detect_cli.attention.capture import explain, layercam
    from detect_cli.images import read_image
    from detect_cli.models import PACKAGED, PACKAGED_DIR, PredictOptions, load_detector, resolve_model
    from detect_cli.sources import iter_sources

    shapes = [read_image(s) for s in iter_sources([str(REPO / "sample_images" / "shapes")])]
    images = (shapes * (args.images // len(shapes) + 1))[: args.images]
    specs = [("demo", "yolo26n.yaml"), ("demo-rtdetr", "rtdetr-l.yaml")]
    print(f"{args.images} images (320x320 shapes), imgsz 320, {os.cpu_count()} torch threads")
    for shipped, fallback in specs:
        spec = shipped if (PACKAGED_DIR / PACKAGED[shipped]).is_file() else fallback
        detector = load_detector(resolve_model(spec), device="cpu")
        options = PredictOptions(conf=0.25, imgsz=320)
        plain = per_image_ms(lambda im: detector.predict([im], options), images)
        hooked = per_image_ms(lambda im: explain(detector, im, options), images)
        cam = per_image_ms(lambda im: layercam(detector, im, options), images)
        print(f"{spec:12s} detect {plain:6.1f} ms   + attention maps {hooked:6.1f} ms ({hooked / plain:.2f}x, "
              f"+{hooked - plain:.1f} ms)   LayerCAM alone {cam:6.1f} ms ({cam / plain:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
