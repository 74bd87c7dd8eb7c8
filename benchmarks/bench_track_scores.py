"""evaluate --tracks on a large MOT file: parsed once and indexed by frame, against motmetrics' reader and
a scan of every row for each frame (what the scoring did before), side by side in one process.

    python benchmarks/bench_track_scores.py --rows 2000000 --frames 2000 --scored 25

Prints the CPU, each way's seconds and the ratio (load on a shared machine falls on both alike)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def write_mot(path: Path, rows: int, frames: int) -> None:
    per_frame = rows // frames
    rng = np.random.default_rng(0)
    frame = np.repeat(np.arange(1, frames + 1), per_frame)
    ids = np.tile(np.arange(1, per_frame + 1), frames)
    xy, wh = rng.uniform(0, 1000, (len(frame), 2)), rng.uniform(1, 50, (len(frame), 2))
    table = np.column_stack([frame, ids, xy, wh, np.ones((len(frame), 3))])
    np.savetxt(path, table, fmt=["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%d", "%d", "%d"], delimiter=",")


def before(path: Path, wanted: list[int]) -> int:
    """The code this replaced: motmetrics' reader, twice (once to check the file before the model
    loads, once to score), then a scan of every row for each frame of the file."""
    import motmetrics as mm

    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = mm.io.loadtxt(str(path), fmt="mot15-2D", min_confidence=-1)
    frames = table.index.get_level_values("FrameId").to_numpy()
    ids = table.index.get_level_values("Id").to_numpy()
    boxes = table[["X", "Y", "Width", "Height"]].to_numpy(np.float64)
    by_frame = {int(f): (ids[frames == f], boxes[frames == f]) for f in np.unique(frames)}
    return sum(len(by_frame[f][1]) for f in wanted)


def after(path: Path, wanted: list[int]) -> int:
    from detect_cli.evaluation.track_scores import read_mot

    rows = read_mot(path)
    return sum(len(rows.frame(f)[1]) for f in wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--frames", type=int, default=2_000)
    parser.add_argument("--scored", type=int, default=25, help="frames looked up (the run's frames)")
    args = parser.parse_args()
    from detect_cli.models.runtime import cpu_name

    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); {args.rows:,} rows over {args.frames:,} frames")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "gt.txt"
        write_mot(path, args.rows, args.frames)
        print(f"file: {path.stat().st_size / 2**20:.0f} MiB")
        wanted = list(range(1, args.scored + 1))
        seconds = {}
        for name, way in (("parsed once, indexed by frame", after), ("motmetrics + a scan per frame", before)):
            start = time.perf_counter()
            found = way(path, wanted)
            seconds[name] = time.perf_counter() - start
            print(f"  {name:32s} {seconds[name]:7.2f} s  ({found:,} boxes in the {args.scored} frames)")
        new, old = seconds.values()
        print(f"  ratio {old / new:.1f}x (the scan grows with frames x rows; the index does not)")


if __name__ == "__main__":
    main()
