"""The cost of attention maps: ms/image of plain detection vs `explain` (hooks + maps), and with
Ultralytics' LayerCAM, per family, on the same images and threads.

    python benchmarks/bench_attention.py [--images 20] [--masks 100] [--models demo,demo-rtdetr]
    python benchmarks/bench_attention.py --faithfulness [--detections 200] [--masks 100] [--seed 7]

With --faithfulness: every map (attention, per RT-DETR decoder layer too, the AIFI encoder, targeted
Grad-CAM and LayerCAM, Ultralytics' per-class LayerCAM, D-RISE, random) measured per detection as
`attention --check` measures it (metrics.py: deletion and insertion AUC, mass in box, pointing
game; mean and 95% bootstrap interval), on generated scenes of a seed the demo models never saw,
until each family has at least --detections detections; and what each map costs per image.

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
    parser.add_argument("--detections", type=int, default=200, help="--faithfulness: per family, at least")
    parser.add_argument("--masks", type=int, default=100, help="--faithfulness: D-RISE masks per image")
    parser.add_argument("--seed", type=int, default=7, help="--faithfulness: scene seed (not 1-3: training/val/test)")
    parser.add_argument("--conf", type=float, default=0.4)
    parser.add_argument("--auc-detections", type=int, default=60, help="--faithfulness: with every measure")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: far faster on busy shared cores)")
    parser.add_argument("--models", default="demo,demo-rtdetr", help="the shipped demo models to measure")
    parser.add_argument("--layer-aucs", action="store_true", help="--faithfulness: AUCs per RT-DETR layer too")
    args = parser.parse_args()
    if unknown := set(args.models.split(",")) - {"demo", "demo-rtdetr"}:
        parser.error(f"--models: {', '.join(sorted(unknown))} is not a demo model (demo, demo-rtdetr)")
    if args.faithfulness:
        faithfulness(args)
        return
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from detect_cli.attention.capture import explain, layercam
    from detect_cli.attention.run import explain_image
    from detect_cli.inputs.images import read_image
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.lookup import PACKAGED, PACKAGED_DIR, resolve_model

    shapes = [read_image(s) for s in iter_sources([str(REPO / "sample_images" / "shapes")])]
    images = (shapes * (args.images // len(shapes) + 1))[: args.images]
    fallbacks = {"demo": "yolo26n.yaml", "demo-rtdetr": "rtdetr-l.yaml"}
    specs = [(name, fallbacks[name]) for name in args.models.split(",")]
    from detect_cli.models.runtime import cpu_name

    print(f"CPU: {cpu_name()}; {args.images} images (320x320 shapes), imgsz 320, {args.threads} torch thread(s)")
    for shipped, fallback in specs:
        spec = shipped if (PACKAGED_DIR / PACKAGED[shipped]).is_file() else fallback
        detector = load_detector(resolve_model(spec), device="cpu", threads=args.threads)
        options = PredictOptions(conf=0.25, imgsz=320)
        plain = per_image_ms(lambda im: detector.predict([im], options), images)
        hooked = per_image_ms(lambda im: explain(detector, im, options), images)
        cam = per_image_ms(lambda im: layercam(detector, im, options), images)
        grads = per_image_ms(lambda im: explain_image(detector, im, options, method="layercam-det"), images)
        drise = per_image_ms(
            lambda im: explain_image(detector, im, options, method="drise", masks=args.masks),
            images[: max(1, len(images) // 5)],
        )
        print(
            f"{spec:12s} detect {plain:6.1f} ms   + attention maps {hooked:6.1f} ms ({hooked / plain:.2f}x, "
            f"+{hooked - plain:.1f} ms)   LayerCAM alone {cam:6.1f} ms ({cam / plain:.2f}x)   targeted "
            f"Grad-CAM + LayerCAM (hooked pass included) {grads:6.1f} ms ({grads / plain:.1f}x)   D-RISE "
            f"{args.masks} masks {drise:7.0f} ms ({drise / plain:.0f}x; {drise * 1000 / args.masks / 1e3:.1f} s "
            "per 1000 masks)"
        )


def faithfulness(args: argparse.Namespace) -> None:
    """Every map of both demo families, measured per detection on generated scenes the models never saw.

    Two tiers, so that a run fits a few shared cores: on the first images (until --auc-detections
    detections) every map, D-RISE included, gets all four measures; on all images (until --detections)
    every white-box map gets the two that need no re-run (mass in box, pointing game). Each row says its n."""
    import numpy as np

    from detect_cli.attention.metrics import FRACTIONS, MetricTable
    from detect_cli.demo.scenes import make_scene
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.lookup import resolve_model
    from detect_cli.models.runtime import cpu_name

    print(
        f"CPU: {cpu_name()} ({os.cpu_count()} cores, torch threads {args.threads}); scenes: seed {args.seed} "
        f"(`python -m detect_cli.demo.generate DIR --seed {args.seed}`, png; the demos trained on seed 1, "
        f"validated on 2, tested on 3); conf {args.conf}, imgsz 320; all measures incl. D-RISE ({args.masks} masks) "
        f"on the images giving the first >= {args.auc_detections} detections, mass in box and pointing game on "
        f">= {args.detections}; AUC fractions {', '.join(f'{f:.4g}' for f in FRACTIONS)}; removal: blur"
    )
    for name in args.models.split(","):
        detector = load_detector(resolve_model(name), device="cpu", threads=args.threads)
        options = PredictOptions(conf=args.conf, imgsz=320)
        full, placed, rng = MetricTable(), MetricTable(), np.random.default_rng(0)
        cost: dict[str, float] = {}
        images = detections = in_full = full_images = 0
        started = time.perf_counter()
        while detections < args.detections:
            image, _ = make_scene(np.random.default_rng([args.seed, images]))
            images += 1
            everything = in_full < args.auc_detections
            found = measure_image(detector, image, options, everything, args.masks, rng, cost, args.layer_aucs)
            (full if everything else placed).add(found)
            if everything:
                placed.add(
                    [
                        {
                            m: {k: v for k, v in f.items() if k in ("ebpg", "pointing")}
                            for m, f in per.items()
                            if m != "drise"
                        }
                        for per in found
                    ]
                )
                in_full += len(found)
                full_images += 1
            detections += len(found)
        took = time.perf_counter() - started
        print(
            f"\n{name}: {detections} detections on {images} images ({in_full} on {full_images} with every measure), "
            f"{took:.0f} s; ms per image: " + ", ".join(f"{k} {v * 1e3 / n:.0f}" for k, (v, n) in cost.items())
        )
        table(name, f"every measure, {in_full} detections", full)
        table(name, f"maps without re-runs, {placed.rows()[0]['n'] if placed.values else 0} detections", placed)
        sys.stdout.flush()


def measure_image(
    detector, image, options, everything: bool, masks: int, rng, cost: dict, layer_aucs: bool = False
) -> list[dict]:
    """Per detection {map: {measure: value}}; `cost` gathers seconds and image counts per map kind."""
    import numpy as np

    from detect_cli.attention.capture import explain, rtdetr_layers
    from detect_cli.attention.drise import drise_maps
    from detect_cli.attention.gradients import targeted_cams
    from detect_cli.attention.metrics import measure, placement, random_map
    from detect_cli.attention.run import per_class_layercam, probe

    def timed(kind: str, fn):
        clock = time.perf_counter()
        out = fn()
        seconds, count = cost.get(kind, (0.0, 0))
        cost[kind] = (seconds + time.perf_counter() - clock, count + 1)
        return out

    e = timed("attention", lambda: explain(detector, image, options))
    dets, maps = e.detections, {"attention": e.maps}
    if not len(dets):
        return []
    layers = {}  # RT-DETR's decoder layers one by one: placed only, unless --layer-aucs
    if detector.ref.family == "rtdetr":
        maps["encoder"] = e.extra["encoder_maps"]
        for layer in range(rtdetr_layers(detector)):
            layers[f"attention L{layer}"] = explain(detector, image, options, layer).maps
        if layer_aucs:
            maps.update(layers)
    predictions = e.extra.get("anchors", e.extra.get("queries"))
    maps.update(
        timed(
            "targeted gradients", lambda: targeted_cams(detector, image, options, predictions, dets.class_id.tolist())
        )
    )
    maps["layercam"] = timed("Ultralytics LayerCAM", lambda: per_class_layercam(detector, image, options, dets))
    placed = [
        {m: placement(found[j], dets.xyxy[j], image.shape[:2]) for m, found in {**maps, **layers}.items()}
        for j in range(len(dets))
    ]
    if not everything:  # and the baseline's figures: a map of noise
        return [
            {**place, "random": placement(random_map(image.shape[:2], rng), dets.xyxy[j], image.shape[:2])}
            for j, place in enumerate(placed)
        ]
    seed = np.random.default_rng(int(rng.integers(1 << 31)))
    drise = f"D-RISE {masks} masks"
    maps["drise"] = timed(drise, lambda: drise_maps(probe(detector, options), image, dets, seed, masks))
    measured = timed("all measures", lambda: measure(image, dets, maps, probe(detector, options), rng))
    return [{**place, **per} for place, per in zip(placed, measured, strict=True)]


def table(name: str, title: str, metrics) -> None:
    from detect_cli.attention.metrics import METRICS

    print(f"\n{name}: {title}\n")
    print(f"| model | map | n | {' | '.join(METRIC_NAMES[m] for m in METRICS)} |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for row in metrics.rows():
        cells = [
            f"{row[m]:.3f} [{row[m + '_ci95'][0]:.3f}, {row[m + '_ci95'][1]:.3f}]" if m in row else "-" for m in METRICS
        ]
        print(f"| {name} | {LABELS.get(row['method'], row['method'])} | {row['n']} | {' | '.join(cells)} |")


METRIC_NAMES = {
    "deletion_auc": "deletion AUC ↓",
    "insertion_auc": "insertion AUC ↑",
    "ebpg": "mass in box ↑",
    "pointing": "pointing game ↑",
}
LABELS = {
    "attention": "attention (all layers)",
    "encoder": "AIFI encoder attention",
    "gradcam": "Grad-CAM (targeted)",
    "layercam-det": "LayerCAM (targeted)",
    "layercam": "Ultralytics LayerCAM (per class)",
    "drise": "D-RISE",
    "random": "random",
}


if __name__ == "__main__":
    main()
