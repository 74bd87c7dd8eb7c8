"""Local engine vs `--engine ray` with 1 and 2 actors: same model, same torch threads in total.

    python benchmarks/bench_ray.py [--images 200] [--model demo] [--imgsz 320]

Each Ray configuration runs on `--small` and `--images` inputs in a fresh local Ray instance; the
two wall times give a line whose intercept is the fixed start-up cost (Ray start, actor start,
model shipped and loaded) and whose slope is the time per image, so the per-image overhead of the
Ray path (slope minus the local engine's time per image) is reported apart from the start-up.
Goals: per-image overhead <= 10 ms; Ray with 1 actor >= 0.8x local throughput (steady state).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import make_images, model_path


def wall(run) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in run())
    assert count > 0
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import ray

    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.detector import PredictOptions, load_detector
    from detect_cli.models.lookup import resolve_model
    from detect_cli.pipeline.engine import detect_stream
    from detect_cli.pipeline.ray.cluster import RayOptions
    from detect_cli.pipeline.ray.driver import ray_detect_stream

    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        big = make_images(work / "big", args.images)
        small = work / "small"
        small.mkdir()
        for f in sorted(big.iterdir())[: args.small]:
            os.link(f, small / f.name)
        detector = load_detector(resolve_model(model_path(args.model)), device="cpu", threads=cores)
        options = PredictOptions(conf=0.25, imgsz=args.imgsz)
        list(detect_stream(iter_sources([str(small)]), detector, options))  # warm-up
        local = wall(lambda: detect_stream(iter_sources([str(big)]), detector, options)) / args.images
        print(f"{args.images} images, model {detector.ref.spec} at {args.imgsz}, {cores} torch threads in total")
        print(f"local engine        {1 / local:6.1f} images/s   {local * 1e3:6.1f} ms/image")
        for actors in (1, 2):
            ray_options = RayOptions(actors=actors, cpus_per_actor=cores / actors, threads_per_actor=cores // actors)
            times = {}
            for n, folder in ((args.small, small), (args.images, big)):
                ray.shutdown()
                times[n] = wall(
                    lambda f=folder: ray_detect_stream(
                        iter_sources([str(f)]), detector, options, ray_options=ray_options
                    )
                )
            per_image = (times[args.images] - times[args.small]) / (args.images - args.small)
            startup = times[args.small] - per_image * args.small
            print(
                f"ray, {actors} actor{'s' if actors > 1 else ' '}       {1 / per_image:6.1f} images/s   "
                f"{per_image * 1e3:6.1f} ms/image (steady)   start-up {startup:5.1f} s   "
                f"overhead {(per_image - local) * 1e3:+6.1f} ms/image   "
                f"throughput vs local {local / per_image:.2f}x   end-to-end on {args.images}: "
                f"{args.images / times[args.images]:.1f} images/s"
            )
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
