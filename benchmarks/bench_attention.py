"""The cost of attention maps: ms/image of plain detection vs `explain` (hooks + maps), and with
Ultralytics' LayerCAM, per family, on the same images and threads.

    python benchmarks/bench_attention.py [--images 20]
    python benchmarks/bench_attention.py --faithfulness [--images 24]

With --faithfulness: the deletion test (`attention --check`) per family and method on the shipped
labelled shapes, and for RT-DETR per decoder layer, which is how the default layer was chosen.

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
    parser.add_argument("--faithfulness", action="store_true")
    args = parser.parse_args()
    if args.faithfulness:
        faithfulness(args.images)
        return
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from detect_cli.attention.capture import explain, layercam
    from detect_cli.images import read_image
    from detect_cli.models import PredictOptions, load_detector
    from detect_cli.sources import iter_sources
    from detect_cli.weights import PACKAGED, PACKAGED_DIR, resolve_model

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


def faithfulness(n_images: int) -> None:
    import numpy as np

    from detect_cli.attention.capture import rtdetr_layers
    from detect_cli.attention.faithfulness import DeletionScores
    from detect_cli.attention.run import explain_image
    from detect_cli.images import read_image
    from detect_cli.models import PredictOptions, load_detector
    from detect_cli.sources import iter_sources
    from detect_cli.weights import PACKAGED, PACKAGED_DIR, resolve_model

    images = [read_image(s) for s in iter_sources([str(REPO / "sample_images" / "shapes")])][:n_images]
    options = PredictOptions(conf=0.4, imgsz=320)

    def table(title: str, scores: DeletionScores) -> None:
        print(title)
        for row in scores.table():
            cells = "  ".join(f"{k} {v}" for k, v in row.items() if k != "method")
            print(f"  {row['method']:10s} {cells}")

    for name in ("demo", "demo-rtdetr"):
        if not (PACKAGED_DIR / PACKAGED[name]).is_file():
            print(f"{name}: not shipped, skipped")
            continue
        detector = load_detector(resolve_model(name), device="cpu")
        scores, rng = DeletionScores(), np.random.default_rng(0)
        for image in images:
            explain_image(detector, image, options, method="both", check=scores, rng=rng)
        table(f"{name}: mean confidence drop after blurring the top-k% pixels (ratio to random)", scores)
        if detector.ref.family == "rtdetr":
            for layer in [None, *range(rtdetr_layers(detector))]:
                scores, rng = DeletionScores(), np.random.default_rng(0)
                for image in images:
                    explain_image(detector, image, options, layer=layer, check=scores, rng=rng)
                table(f"{name}, decoder layer {'all' if layer is None else layer}", scores)


if __name__ == "__main__":
    main()
