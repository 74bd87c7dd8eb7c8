"""`attn-detect compare` vs running `attn-detect detect` once per model, same images and settings.

    python benchmarks/bench_compare.py [--models demo,yolo26n.yaml] [--images 200] [--imgsz 320]

compare reads and decodes each image once for all models and starts one process; the baseline
starts one process per model and decodes every image once per model. Prints both wall times
(fresh processes, start-up included) and the ratio (goal: compare faster, ratio < 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import EXE, make_images, model_path, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="demo,yolo26n.yaml")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    models = [model_path(m) for m in args.models.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        folder = make_images(work / "imgs", args.images)
        common = ["--imgsz", str(args.imgsz), "--quiet"]
        compare_cmd = [EXE, "compare", str(folder), "--models", ",".join(models), "--format", "json", *common]
        detect_cmds = [[EXE, str(folder), "--model", m, "--format", "jsonl", *common] for m in models]
        ours, baseline = [], []
        for _ in range(args.repeats):  # alternate so machine noise hits both alike
            ours.append(timed(compare_cmd))
            baseline.append(sum(timed(cmd) for cmd in detect_cmds))
        o, b = min(ours), min(baseline)
        print(f"models {', '.join(models)}; {args.images} images at imgsz {args.imgsz}; best of {args.repeats}")
        print(f"compare (one process, one decode per image)  {o:7.2f} s")
        print(f"detect once per model ({len(models)} processes)      {b:7.2f} s")
        print(f"ratio compare / detect-per-model             {o / b:7.3f}  (goal < 1)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
