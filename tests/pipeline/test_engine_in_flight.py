"""The engine with requests in flight (OpenVINO's runner: `predict_later` and `in_flight`): records in
input order though inference finishes out of order, a failure on one input is one record, and the
pixels of the images in flight stay inside the byte budget.

The runner here is our own `OpenVINODetector` on fake requests (tests/helpers: threads with set delays) whose output
names the input: image k is filled with the value k, and its one box comes back with class id k."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.inputs.images import Decoded
from detect_cli.inputs.sources import Source
from detect_cli.models.detector import PredictOptions
from detect_cli.models.lookup import ModelRef
from detect_cli.models.openvino_direct import OpenVINODetector
from detect_cli.models.openvino_requests import RequestPool
from detect_cli.pipeline import engine
from detect_cli.pipeline.engine import detect_stream
from tests.helpers import FakeCompiled, watch_budget_peak

SIDE = 32
OPTIONS = PredictOptions(conf=0.25, imgsz=SIDE)
BLANK = 114  # what the failure watch's blank image is filled with


def fake_model(delay: Callable[[float], float] = lambda v: 0.0, fail_on: tuple[float, ...] = ()) -> FakeCompiled:
    """Fake requests that read an image's value (0..255) back from the letterboxed input and give one box
    of that class id."""
    return FakeCompiled(
        delay,
        fail_on,
        value_of=lambda tensor: round(float(tensor.flat[0]) * 255),
        output=lambda value: np.array([[[1, 1, 20, 20, 0.9, value]]], dtype=np.float32),
    )


def runner(compiled: FakeCompiled, requests: int) -> OpenVINODetector:
    return OpenVINODetector(
        ref=ModelRef("demo", "fake", "yolo", "exported"),
        names={k: f"c{k}" for k in range(256)},
        device="cpu",
        half=False,
        end2end_capable=True,
        load_s=0.0,
        input_hw=(SIDE, SIDE),
        _pool=RequestPool(compiled, requests),
    )


@pytest.fixture
def pixels(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """The engine's reader returns these arrays by source name (a name not in it is a bad file)."""
    table: dict[str, np.ndarray] = {}

    def read(source: Source, options) -> Decoded:
        from detect_cli.core.errors import InputError

        if source.name not in table:
            raise InputError(f"{source.ref}: not an image")
        return Decoded(table[source.name])

    monkeypatch.setattr(engine, "read_image", read)
    return table


def image(value: int, side: int = SIDE) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.uint8)


def test_records_come_in_input_order_though_requests_finish_out_of_order(pixels: dict) -> None:
    for k in range(1, 13):
        pixels[f"{k}.png"] = image(k)
    names = [f"{k}.png" for k in range(1, 13)]
    names.insert(5, "broken.png")  # an input that never reaches the model keeps its place
    # in each group of three, the last submitted finishes first
    compiled = fake_model(delay=lambda v: 0.03 * (3 - v % 3))
    results = list(detect_stream([Source(n, n) for n in names], runner(compiled, 3), OPTIONS))
    assert [r.index for r in results] == list(range(13))
    assert [r.source for r in results] == names
    assert [r.ok for r in results] == [n != "broken.png" for n in names]
    assert [int(r.detections.class_id[0]) for r in results if r.ok] == list(range(1, 13))
    assert compiled.finished != sorted(compiled.finished)  # they did finish out of order


def test_a_failure_on_one_input_is_one_record(pixels: dict) -> None:
    for k in range(1, 9):
        pixels[f"{k}.png"] = image(k)
    compiled = fake_model(delay=lambda v: 0.005 * (v % 3), fail_on=(4,))
    items = [Source(f"{k}.png", f"{k}.png") for k in range(1, 9)]
    results = list(detect_stream(items, runner(compiled, 3), OPTIONS))
    assert [r.index for r in results] == list(range(8))
    assert [r.ok for r in results] == [k != 4 for k in range(1, 9)]
    assert "model failed on this image: RuntimeError: inference failed on input 4" in results[3].error
    assert [int(r.detections.class_id[0]) for r in results if r.ok] == [1, 2, 3, 5, 6, 7, 8]
    assert BLANK in compiled.started  # the blank image was tried: the model itself still works


def test_images_in_flight_stay_inside_the_byte_budget(pixels: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Images of 1.2 MB with 4 MB allowed and 4 requests: never more than the budget plus one image held,
    and the run ends (the reader never waits for bytes that only a later image would release)."""
    side = 640
    one = side * side * 3
    for k in range(1, 11):
        pixels[f"{k}.png"] = image(k, side)
    peak = watch_budget_peak(monkeypatch)
    compiled = fake_model(delay=lambda v: 0.01)
    items = [Source(f"{k}.png", f"{k}.png") for k in range(1, 11)]
    done: list = []
    worker = threading.Thread(
        target=lambda: done.extend(detect_stream(items, runner(compiled, 4), OPTIONS, max_bytes_in_flight=4 * one - 1))
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the run did not end"
    assert [int(r.detections.class_id[0]) for r in done] == list(range(1, 11))
    assert 2 * one < peak() <= 4 * one - 1 + one


def test_images_each_larger_than_the_budget_are_held_one_at_a_time(
    pixels: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Huge images (3 MB each, a 1 MB budget, 4 requests free): one image held at a time, never two,
    and every one still runs, in order (a single image always fits: the run cannot stall on it)."""
    side = 1000
    for k in range(1, 7):
        pixels[f"{k}.png"] = image(k, side)
    peak = watch_budget_peak(monkeypatch)
    items = [Source(f"{k}.png", f"{k}.png") for k in range(1, 7)]
    done: list = []
    worker = threading.Thread(
        target=lambda: done.extend(detect_stream(items, runner(fake_model(), 4), OPTIONS, max_bytes_in_flight=2**20))
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the run did not end"
    assert [int(r.detections.class_id[0]) for r in done] == list(range(1, 7))
    assert peak() == side * side * 3


def test_the_default_runner_keeps_requests_overlapping(pixels: dict) -> None:
    """Without a byte limit in the way, the next images are submitted before the first result is read."""
    for k in range(1, 7):
        pixels[f"{k}.png"] = image(k)
    compiled = fake_model(delay=lambda v: 0.05)
    stream = detect_stream([Source(f"{k}.png", f"{k}.png") for k in range(1, 7)], runner(compiled, 2), OPTIONS)
    first = next(stream)
    assert int(first.detections.class_id[0]) == 1
    assert compiled.started[:3] == [BLANK, 1, 2] or compiled.started[:2] == [1, 2]
    assert len([v for v in compiled.started if v != BLANK]) >= 2
    assert [int(r.detections.class_id[0]) for r in stream] == [2, 3, 4, 5, 6]


@pytest.mark.slow
def test_ctrl_c_with_requests_in_flight_exits_130_with_the_records_so_far(tmp_path: Path, demo_cache: Path) -> None:
    """A real run on the cached OpenVINO export of the demo model, over a folder long enough that
    requests are in flight when SIGINT comes: exit 130, every record before it whole, in order."""
    from detect_cli.demo.scenes import make_scene

    env = {**os.environ, "ATTN_DETECT_CACHE_DIR": str(demo_cache), "PYTHONUNBUFFERED": "1"}  # verified (conftest)
    env.pop("ATTN_DETECT_BACKEND", None)  # the tests' default (torch): this one is about OpenVINO's runner
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for k in range(400):  # 4:3, 16:9 and portrait scenes in turn
        scene = make_scene(rng)[0]
        h, w = ((240, 320), (180, 320), (320, 240))[k % 3]
        cv2.imwrite(str(folder / f"{k:04d}.jpg"), cv2.resize(scene, (w, h)))
    cli = [sys.executable, "-m", "detect_cli", "--model", "demo", "--format", "jsonl"]
    assert list(demo_cache.glob("backends/*/openvino/compiled/*"))
    proc = subprocess.Popen(
        [*cli, str(folder)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = [proc.stdout.readline() for _ in range(20)]  # type: ignore[union-attr]  # well under way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    records = [json.loads(line) for line in [*lines, *out.splitlines()]]  # each one whole
    assert 20 <= len(records) < 400
    assert [r["index"] for r in records] == list(range(len(records)))
    assert all(r["status"] == "ok" for r in records)
