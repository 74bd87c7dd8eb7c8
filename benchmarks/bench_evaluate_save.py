"""What `evaluate --save` costs over a plain `evaluate`, measured side by side in one process.

    python benchmarks/bench_evaluate_save.py [--model demo] [--images 300] [--seed 3] [--repeats 3]

On a generated shapes set (`detect_cli.demo.scenes.write_dataset`, COCO labels), each repeat times,
back to back: the plain evaluation (`EvaluateJob.run`: detection at conf 0.001 and COCO scoring, what
`attn-detect evaluate` does after the model is loaded), then what `--save` adds: the analysis
(curves, confusion matrix, TIDE, worst images; `--format json` pays this part too) and the pictures
with the page. Load on a shared machine hits neighbouring timings alike; the best of the repeats is
kept for each. Prints the CPU, the times and the ratios (evaluate --save / evaluate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from detect_cli.core.settings import load_settings
    from detect_cli.demo.scenes import write_dataset
    from detect_cli.evaluation.labels import Labels
    from detect_cli.inputs.sources import iter_sources
    from detect_cli.models.open import open_model, read_options
    from detect_cli.models.runtime import cpu_name
    from detect_cli.tasks.evaluate import EvaluateJob
    from detect_cli.tasks.evaluation_pictures import save_evaluation

    work = Path(tempfile.mkdtemp(prefix="bench-evaluate-save-"))
    try:
        folder = write_dataset(work / "set", args.images, args.seed, 320, "png")
        opened = open_model(load_settings(None, {"model": args.model}))
        settings, detector = opened.settings, opened.detector
        labels = Labels.read(folder / "annotations.json").for_model(detector.names)
        times: dict[str, list[float]] = {"plain": [], "analysis": [], "pictures": []}
        for n in range(args.repeats):
            job = EvaluateJob(settings, detector, labels)  # no analysis in its summary: a plain evaluate
            start = time.perf_counter()
            report = job.run(iter_sources([str(folder / "images")]))
            times["plain"].append(time.perf_counter() - start)
            start = time.perf_counter()
            analysis = job.analysis()  # what --save and --format json add
            times["analysis"].append(time.perf_counter() - start)
            start = time.perf_counter()
            save_evaluation(
                work / f"save{n}",
                report,
                analysis,
                detector.names,
                {"model": args.model},
                read_options=read_options(settings),
            )
            times["pictures"].append(time.perf_counter() - start)
        plain, analysed, drawn = (min(times[k]) for k in ("plain", "analysis", "pictures"))
        print(
            f"CPU: {cpu_name()} ({os.cpu_count()} cores); model {args.model} ({detector.backend}); "
            f"{args.images} generated images (seed {args.seed}, 320 px); best of {args.repeats}"
        )
        print(f"evaluate (detect at conf 0.001 + COCO mAP)   {plain:7.2f} s")
        print(
            f"+ analysis (curves, matrix, TIDE, worst)     {analysed:7.2f} s   --format json: ratio "
            f"{(plain + analysed) / plain:.3f}"
        )
        print(
            f"+ pictures and page                          {drawn:7.2f} s   --save: ratio "
            f"{(plain + analysed + drawn) / plain:.3f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
