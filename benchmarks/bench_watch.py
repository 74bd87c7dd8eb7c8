"""detect --watch: latency from a file's last write to its record, and throughput on a burst.

    python benchmarks/bench_watch.py [--files 100] [--rate 10] [--burst 1000] [--batch 8] [--backend auto]

1. Latency: `--files` images dropped into a watched folder at `--rate` a second (each written to a
   hidden temporary name and renamed, as copiers do); for each, the time from its last write (its
   mtime) to its record appearing in the watcher's JSONL (polled every 5 ms). Median and p95.
2. Throughput: `--burst` images land at once in a watched folder; images a second from the first
   landing to the last record, against a plain `detect` of the same folder (its own summary's
   wall time: the run, model load excluded), both with the same --batch and backend. The ratio is
   what watching costs (goal: about 1). Both are fresh processes on this machine, side by side, so
   the load of a shared machine falls on both.
The images are the shipped shape scenes (320x320 JPEGs), the model `demo`. Prints the CPU model.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detect_cli.models.runtime import cpu_name

REPO = Path(__file__).resolve().parents[1]
SCENES = sorted((REPO / "sample_images" / "shapes").glob("*.jpg"))


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "detect_cli", "detect", *args]


def drop(folder: Path, name: str, data: bytes) -> None:
    tmp = folder / f".{name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)


def start_watch(folder: Path, out: Path, common: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cli(str(folder), "--watch", "--out", str(out), *common), stderr=subprocess.PIPE)
    while not out.exists():  # the JSONL file is opened once the model is loaded
        if proc.poll() is not None:
            sys.exit(f"watcher failed: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    time.sleep(1.0)  # and the watch started
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(30)


def arrivals(out: Path, count: int, timeout: float) -> dict[str, float]:
    """source -> when its record was first seen in `out`."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    with open(out, encoding="utf-8") as fh:
        buffer = ""
        while len(seen) < count and time.monotonic() < deadline:
            chunk = fh.read()
            if not chunk:
                time.sleep(0.005)
                continue
            now = time.time()
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            for line in lines:
                seen.setdefault(json.loads(line)["source"], now)
    return seen


def latency(work: Path, files: int, rate: float, common: list[str]) -> tuple[float, float]:
    folder, out = work / "latency", work / "latency.jsonl"
    folder.mkdir()
    proc = start_watch(folder, out, common)
    written: dict[str, float] = {}
    import threading

    def writer() -> None:
        for i in range(files):
            name = f"img_{i:04d}.jpg"
            drop(folder, name, SCENES[i % len(SCENES)].read_bytes())
            written[str(folder / name)] = os.stat(folder / name).st_mtime
            time.sleep(1 / rate)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = arrivals(out, files, timeout=files / rate + 120)
    thread.join()
    stop(proc)
    delays = sorted(seen[path] - written[path] for path in written if path in seen)
    if len(delays) < files:
        sys.exit(f"only {len(delays)} of {files} records came")
    return statistics.median(delays), delays[int(0.95 * (len(delays) - 1))]


def throughput(work: Path, burst: int, common: list[str]) -> tuple[float, float]:
    source = work / "burst-source"
    source.mkdir()
    for i in range(burst):
        (source / f"img_{i:05d}.jpg").write_bytes(SCENES[i % len(SCENES)].read_bytes())
    plain = subprocess.run(cli(str(source), "--format", "json", *common), capture_output=True, check=True)
    plain_rate = burst / json.loads(plain.stdout)["summary"]["wall_s"]

    folder, out = work / "burst", work / "burst.jsonl"
    folder.mkdir()
    proc = start_watch(folder, out, common)
    landed = time.time()
    for path in sorted(source.iterdir()):
        os.rename(path, folder / path.name)  # all at once (same file system: a rename each)
    seen = arrivals(out, burst, timeout=600)
    stop(proc)
    if len(seen) < burst:
        sys.exit(f"only {len(seen)} of {burst} records came")
    return burst / (max(seen.values()) - landed), plain_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--model", default="demo")
    args = parser.parse_args()
    common = ["--model", args.model, "--backend", args.backend, "--batch", str(args.batch), "--quiet"]
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); model {args.model}, backend {args.backend}, batch {args.batch}")
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        work = Path(tmp)
        p50, p95 = latency(work, args.files, args.rate, common)
        print(
            f"latency, last write -> record, {args.files} files at {args.rate:g}/s: "
            f"median {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
        )
        if not args.burst:
            return
        watched, plain = throughput(work, args.burst, common)
        print(
            f"throughput, {args.burst} files at once: watch {watched:.1f} images/s, plain detect {plain:.1f} "
            f"images/s, ratio {watched / plain:.2f}"
        )


if __name__ == "__main__":
    main()
