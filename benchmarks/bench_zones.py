"""--zone on a generated video with known tracks: entries, exits and time in zone against the truth,
and the cost over plain --track.

    python benchmarks/bench_zones.py [--frames 1000] [--repeat 2] [--threads 1]

The truth comes from the generator's MOT ground truth (`demo/videos.py`: every object's visible box
and id in every frame), counted by the same `ZoneCounter` the CLI runs, so the two differ only by
what the detector and tracker do. Each ground-truth track is paired with the predicted track whose
boxes it matches most often (same class, IoU >= 0.5, per frame); time-in-zone error is per ground-truth
visit, in frames, against its paired track's visit of the same zone (a visit with no paired visit is
counted as missed, not as an error). The cost is `attn-detect VIDEO --track` against the same with
two zones, each run in a fresh process, alternated, best of `--repeat`; the zone stage alone is timed
in-process on the recorded detections. Goal: <= 1.05x --track's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backend import measure
from bench_video import cpu_model

from detect_cli.core.detections import Detections
from detect_cli.core.matching import match
from detect_cli.core.polygons import parse_zones
from detect_cli.demo.scenes import CLASSES
from detect_cli.demo.videos import write_video
from detect_cli.pipeline.zones import ZoneCounter

ZONES = ["left=20,20,150,20,150,300,20,300", "corner=50%,30%,95%,95%,50%,95%"]
FPS = 25.0


def cli(video: Path, out: Path, threads: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "detect_cli",
        str(video),
        "-m",
        "demo",
        "--backend",
        "torch",
        "--threads",
        str(threads),
        "--track",
        "--out",
        str(out),
        "-q",
        "--no-progress",
        *extra,
    ]


def truth_frames(gt: Path) -> dict[int, tuple[np.ndarray, list[str], np.ndarray]]:
    """0-based frame -> (xyxy, class names, track ids) of the ground truth."""
    rows: dict[int, list[list[float]]] = {}
    for line in gt.read_text().splitlines():
        frame, track, x, y, w, h, _, cls, _ = (float(v) for v in line.split(","))
        rows.setdefault(int(frame) - 1, []).append([x, y, x + w, y + h, cls, track])
    out = {}
    for frame, boxes in rows.items():
        array = np.array(boxes)
        out[frame] = (array[:, :4], [CLASSES[int(c)] for c in array[:, 4]], array[:, 5].astype(np.int64))
    return out


def count(frames: dict[int, tuple[np.ndarray, list[str], np.ndarray]], size: int) -> ZoneCounter:
    counter = ZoneCounter(parse_zones(ZONES))
    for frame in sorted(frames):
        xyxy, names, ids = frames[frame]
        counter.update(xyxy, names, ids, frame, frame / FPS, (size, size))
    return counter


def predicted_frames(document: dict) -> dict[int, tuple[np.ndarray, list[str], np.ndarray]]:
    out = {}
    for record in document["images"]:
        boxes = record["detections"]
        out[record["frame"]] = (
            np.array([b["box"] for b in boxes]).reshape(-1, 4),
            [b["class_name"] for b in boxes],
            np.array([-1 if b["track_id"] is None else b["track_id"] for b in boxes]),
        )
    return out


def pair_tracks(truth: dict, predicted: dict) -> dict[int, int]:
    """Ground-truth id -> the predicted id its boxes match most often."""
    votes: dict[int, Counter[int]] = {}
    for frame, (gt_xyxy, gt_names, gt_ids) in truth.items():
        if frame not in predicted:
            continue
        xyxy, names, ids = predicted[frame]
        vocabulary = {n: k for k, n in enumerate(CLASSES)}
        a = Detections(gt_xyxy, np.ones(len(gt_ids)), [vocabulary[n] for n in gt_names])
        b = Detections(xyxy, np.ones(len(ids)), [vocabulary.get(n, -1) for n in names])
        pairs = match(a, b, 0.5)
        for i, j in zip(pairs.a.tolist(), pairs.b.tolist()):
            if ids[j] >= 0:
                votes.setdefault(int(gt_ids[i]), Counter())[int(ids[j])] += 1
    return {gt: v.most_common(1)[0][0] for gt, v in votes.items()}


def compare(truth: ZoneCounter, predicted: ZoneCounter, pairs: dict[int, int]) -> dict[str, object]:
    real = {(e["zone"], e["track_id"]): e for e in truth.visits() if not e["brief"]}
    found = {(e["zone"], e["track_id"]): e for e in predicted.visits() if not e["brief"]}
    errors, missed = [], 0
    for (zone, gt_id), visit in real.items():
        mine = found.get((zone, pairs.get(gt_id, -2)))
        if mine is None:
            missed += 1
            continue
        errors.append(abs(mine["dwell_frames"] - visit["dwell_frames"]))
    per_zone = {}
    for zone in (z.split("=")[0] for z in ZONES):
        t = [e for e in real.values() if e["zone"] == zone]
        p = [e for e in found.values() if e["zone"] == zone]
        left = [sum(e["left_frame"] is not None for e in visits) for visits in (p, t)]
        per_zone[zone] = {"entries": (len(p), len(t)), "exits": tuple(left)}
    return {
        "per_zone": per_zone,
        "median_error_frames": float(np.median(errors)) if errors else None,
        "matched": len(errors),
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores), torch threads {args.threads}, demo model, PyTorch")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    work = Path(tempfile.mkdtemp(prefix="bench-zones-"))
    video, gt = write_video(work / "shapes.mp4", args.frames, seed=11, size=args.size)
    print(f"video: {args.frames} frames {args.size}x{args.size}; zones: {' '.join(ZONES)}")
    zone_flags = [flag for z in ZONES for flag in ("--zone", z)]
    walls: dict[str, list[float]] = {"--track": [], "--track + 2 zones": []}
    for _ in range(args.repeat):
        walls["--track"].append(measure(cli(video, work / "t.json", args.threads), work / "t.json", env)["wall"])
        walls["--track + 2 zones"].append(
            measure(cli(video, work / "z.json", args.threads, *zone_flags), work / "z.json", env)["wall"]
        )
    best = {k: min(v) for k, v in walls.items()}
    for name, wall in best.items():
        print(f"  {name:18s} {wall:6.2f} s  (runs: {', '.join(f'{w:.1f}' for w in walls[name])})")
    print(f"  zones / plain --track wall: {best['--track + 2 zones'] / best['--track']:.3f}x (goal <= 1.05x)")

    document = json.loads((work / "z.json").read_text())
    frames = predicted_frames(document)
    start = time.perf_counter()
    predicted = count(frames, args.size)
    stage_ms = (time.perf_counter() - start) * 1e3 / len(frames)
    per_frame = sum(document["summary"]["ms_per_image"].values())  # read + model, as that run measured them
    print(
        f"  the zone counting alone: {stage_ms:.3f} ms/frame (in-process, on the recorded tracks), against "
        f"{per_frame:.1f} ms/frame of reading and inference in the same run: {1 + stage_ms / per_frame:.3f}x"
    )
    (summary,) = document["summary"]["zones"].values()
    assert summary["per_zone"] == predicted.summary(), "the CLI's summary and the replayed count differ"

    truth_by_frame = truth_frames(gt)
    truth = count(truth_by_frame, args.size)
    for label, runs in (("full rate", predicted), ("--vid-stride 3", None)):
        if runs is None:
            out = work / "s3.json"
            measure(cli(video, out, args.threads, *zone_flags, "--vid-stride", "3"), out, env)
            frames = predicted_frames(json.loads(out.read_text()))
            runs = count(frames, args.size)
        result = compare(truth, runs, pair_tracks(truth_by_frame, frames))
        zones = ", ".join(
            f"{z}: entries {v['entries'][0]} / {v['entries'][1]}, exits {v['exits'][0]} / {v['exits'][1]}"
            for z, v in result["per_zone"].items()
        )
        print(f"{label}: found / true per zone: {zones}")
        print(
            f"  time in zone, |found - true| per true visit: median {result['median_error_frames']} frames over "
            f"{result['matched']} visits ({result['missed']} true visits with no found one)"
        )


if __name__ == "__main__":
    main()
