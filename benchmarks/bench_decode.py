"""Decoding: attn-detect's `inputs.images.decode` (PIL, EXIF-rotated, BGR) against OpenCV's `cv2.imdecode`
on the same bytes, and whether the pixels are the same (issue #40).

    python benchmarks/bench_decode.py [--rounds 7]

Per kind of input, CPU milliseconds per image, the two decoders in alternation (best of --rounds, so the
load of a shared machine falls on both), CPU and load average printed. `cv2.imdecode` is the
reference speed, not a candidate: libjpeg's and libpng's warnings ("Corrupt JPEG data: ...") go
from it straight to the process's stderr whatever OpenCV's log level, and it cannot say that it
warned, so `--quiet` would not be quiet (see the README).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from ultralytics.utils import ASSETS  # bus.jpg and zidane.jpg, real photos

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import stills  # benchmarks/, on sys.path when a script here runs

from detect_cli.inputs.images import decode
from detect_cli.models.runtime_cache import cpu_name


def _encoded(image: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, fmt, **kwargs)
    return out.getvalue()


def inputs(work: Path) -> dict[str, list[bytes]]:
    folder = stills(work / "stills", 40)
    photo = np.asarray(Image.open(ASSETS / "bus.jpg").convert("RGB"))
    return {
        "40 JPEG stills, 320x320": [p.read_bytes() for p in sorted(folder.iterdir())],
        "bus.jpg, 810x1080": [(ASSETS / "bus.jpg").read_bytes()],
        "zidane.jpg, 1280x720": [(ASSETS / "zidane.jpg").read_bytes()],
        "JPEG, 4000x3000": [_encoded(cv2.resize(photo, (4000, 3000)), "JPEG", quality=90)],
        "PNG, 810x1080": [_encoded(photo, "PNG")],
    }


def per_image_ms(decoder, datas: list[bytes]) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()  # CPU time: both decode on one thread, and a busy machine's waits don't count
    for data in datas:
        decoder(data)
    return (time.process_time() - start) / len(datas) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ours = lambda data: decode(data, 10**9).pixels  # noqa: E731
    opencv = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # noqa: E731
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); best of {args.rounds}, the two in alternation")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other jobs on the machine)")
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as work:
        print(f"\n{'input':26s} {'attn-detect':>12s} {'cv2.imdecode':>13s} {'ratio':>6s}  pixels")
        for name, datas in inputs(Path(work)).items():
            same = all(np.array_equal(ours(d), opencv(d)) for d in datas)
            times: dict[str, list[float]] = {"ours": [], "cv2": []}
            for _ in range(args.rounds):
                times["ours"].append(per_image_ms(ours, datas))
                times["cv2"].append(per_image_ms(opencv, datas))
            a, b = min(times["ours"]), min(times["cv2"])
            print(f"{name:26s} {a:9.2f} ms {b:10.2f} ms {a / b:5.2f}x  {'equal' if same else 'DIFFERENT'}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
