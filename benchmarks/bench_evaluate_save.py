"""What `evaluate --save` costs over a plain `evaluate`: the same labelled images, fresh processes, run
alternately so load on the machine hits both alike.

    python benchmarks/bench_evaluate_save.py [--model demo] [--images 300] [--seed 3] [--repeats 3]

The images are a generated shapes set (`python -m detect_cli.demo.generate`, COCO labels). Prints
the CPU, each command's best wall time (start-up, model load and detection included: what a user
waits for), and the ratio with --save (curves, confusion matrix, TIDE, 12 worst images, the page)
to without. Also the ratio for `--format json`, which computes the same numbers without drawing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = shutil.which("attn-detect", path=os.path.dirname(sys.executable)) or "attn-detect"


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from detect_cli.demo.scenes import write_dataset
    from detect_cli.models.runtime import cpu_name

    work = Path(tempfile.mkdtemp(prefix="bench-evaluate-save-"))
    try:
        folder = write_dataset(work / "set", args.images, args.seed, 320, "png")
        images, labels = folder / "images", folder / "annotations.json"
        base = [EXE, "evaluate", str(images), "--labels", str(labels), "--model", args.model, "--quiet"]
        times: dict[str, list[float]] = {"plain": [], "json": [], "save": []}
        timed([*base, "--format", "json"])  # warm: the runtime choice is cached, as on a user's second run
        for n in range(args.repeats):
            times["plain"].append(timed(base))
            times["json"].append(timed([*base, "--format", "json"]))
            times["save"].append(timed([*base, "--save", str(work / f"save{n}")]))
        best = {k: min(v) for k, v in times.items()}
        print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); model {args.model}; {args.images} generated images "
              f"(seed {args.seed}, 320 px); best of {args.repeats}, run alternately")  # fmt: skip
        print(f"evaluate                       {best['plain']:7.2f} s")
        print(f"evaluate --format json         {best['json']:7.2f} s   ratio {best['json'] / best['plain']:.3f}")
        print(f"evaluate --save DIR            {best['save']:7.2f} s   ratio {best['save'] / best['plain']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
