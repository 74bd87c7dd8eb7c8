"""The Ray actor of `detect --engine ray`: it loads the model once (shipped through the object store, not
a shared disk) on the device it reserved, and runs the local engine on each batch of sources. It hands
back the same JSON records every sink writes (or writes them as a JSONL shard), so nothing is lost on
the way: warnings, tile ids and track ids travel as they are.

An export that the driver's runtime check verified with a runtime's own runner (attn-detect's OpenVINO
runner, "direct") runs through that runner in the actor too, so a CPU actor imports neither torch nor
Ultralytics; one verified through Ultralytics' wrapper runs through it. The runtime registry
(`models.runtimes`) says what travels with the export and opens it."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import weakref
import zipfile
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.errors import AttnDetectError, ConfigError, ModelFailed, ModelLoadError, one_line
from detect_cli.core.results import ImageResult
from detect_cli.inputs.images import ReadOptions
from detect_cli.inputs.sources import Source
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.lookup import ModelRef
from detect_cli.outputs.records import image_record
from detect_cli.outputs.sinks import JsonlSink, dumps
from detect_cli.pipeline.ray.cluster import RayOptions
from detect_cli.pipeline.run_summary import RunSummary
from detect_cli.pipeline.slicing import SliceOptions


def actor_device(requested: str, gpus_per_actor: float) -> str:
    """The device an actor loads its model on. Ray shows an actor only the GPUs it reserves, and
    numbers them from 0 (CUDA_VISIBLE_DEVICES), so a GPU index given on the driver names no GPU in
    an actor: with `--gpus-per-actor` the actor runs on its GPU ("0"), without it on the CPU. A
    device that contradicts the reservation is refused before any actor starts."""
    wanted = requested.strip().lower()
    if gpus_per_actor > 0:
        if wanted == "cpu":
            raise ConfigError(
                f"--device cpu with --gpus-per-actor {gpus_per_actor:g}: each actor would reserve a GPU "
                "and never use it",
                "drop --device cpu, or --gpus-per-actor",
            )
        return "0"
    if wanted in {"", "auto", "cpu"}:
        return "cpu"
    if wanted == "mps":  # Apple's GPU is not one Ray reserves: each actor on a Mac may use it
        return "mps"
    raise ConfigError(
        f"--device {requested} with --engine ray needs --gpus-per-actor",
        "Ray gives an actor a GPU only when it reserves one: add --gpus-per-actor 1 (or 0.5 to share "
        "one GPU between two actors)",
    )


def model_payload(detector: Detector, *, gpu: bool = False) -> dict[str, Any]:
    """What a worker needs to load the model with no shared disk: its bytes in the object store.
    A YAML-built model is saved first (workers get the driver's exact weights); an export folder
    (the OpenVINO model that `--backend auto` chose on the driver) travels as a zip, so every
    actor runs the runtime that was verified, without exporting again. For actors on a GPU an
    export made by attn-detect gives way to the checkpoint it was made from: the exports were
    verified on the CPU, and a GPU runs PyTorch (`backends`, as `detect --device 0` does locally;
    Ultralytics would run OpenVINO on the CPU and leave the GPU idle)."""
    import ray

    origin = detector.origin
    on_torch = gpu and origin is not None and origin.kind == "weights"
    with tempfile.TemporaryDirectory() as scratch:
        if on_torch:
            ref, path = origin, Path(origin.path)
        else:
            ref, path = detector.ref, detector.checkpoint(Path(scratch))
        blob = ray.put(_zip_folder(path) if path.is_dir() else path.read_bytes())
    ref = replace(ref, path=path.name, kind="exported" if ref.kind == "exported" else "weights")
    payload = {"ref": ref, "blob": blob, "suffix": path.suffix, "folder": path.is_dir()}
    if not on_torch:
        from detect_cli.models import runtimes

        payload["shipped"] = runtimes.shipped_facts(detector, origin)  # None: Ultralytics' loader opens it
    return payload


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


def _unpack_model(payload: dict[str, Any], ref: ModelRef, into: Path) -> Path:
    local = into / (Path(ref.path).stem + payload["suffix"])
    into.mkdir(parents=True, exist_ok=True)
    import ray

    data = ray.get(payload["blob"])
    if payload.get("folder"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(local)  # our own archive, made by the driver from the verified export
    else:
        local.write_bytes(data)
    return local


class DetectActor:
    """Loads the model once; each call runs the local engine on a batch of sources."""

    def __init__(
        self,
        payload: dict[str, Any],
        options: PredictOptions,
        read: ReadOptions,
        batch: int,
        threads: int,
        shard_dir: str | None = None,
        device: str = "cpu",
        half: bool = False,
        slicing: SliceOptions | None = None,
    ) -> None:
        from detect_cli.models.detector import load_detector
        from detect_cli.pipeline.slicing import SlicedDetector

        ref: ModelRef = payload["ref"]
        scratch = tempfile.mkdtemp(prefix="attn-detect-model-")
        weakref.finalize(self, shutil.rmtree, scratch, True)  # at the latest when the worker exits
        local = _unpack_model(payload, ref, Path(scratch))
        if payload.get("shipped") is not None:
            self.detector: Detector = open_shipped(payload["shipped"], local, threads=threads, half=half)
        else:
            self.detector = load_detector(replace(ref, path=str(local)), device=device, half=half, threads=threads)
        if ref.kind != "exported" or payload.get("shipped") is not None:
            shutil.rmtree(scratch, ignore_errors=True)  # in memory now (Ultralytics opens an export at its first batch)
        if slicing is not None:  # --slice travels as options; each actor wraps its own model
            self.detector = SlicedDetector(self.detector, slicing, batch)
        self.options, self.read, self.batch, self.shard_dir = options, read, batch, shard_dir

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, list]:
        from detect_cli.pipeline.engine import detect_stream

        sources = [
            Source(str(r), str(n), bool(u), str(e) if e else None)
            for r, n, u, e in zip(rows["ref"], rows["name"], rows["is_url"], rows["error"])
        ]
        results = detect_stream(sources, self.detector, self.options, batch=self.batch, read_options=self.read)
        try:
            results = [replace(r, index=int(i), image=None) for r, i in zip(results, rows["index"])]
        except AttnDetectError as exc:  # the run stops (ModelFailed): tell the driver, which raises it
            return stopped(exc, int(rows["index"][0]), shard=bool(self.shard_dir))
        if self.shard_dir:
            return write_shard(Path(self.shard_dir), results)
        return _rows(results)


def open_shipped(facts: dict[str, Any], folder: Path, *, threads: int, half: bool = False) -> Detector:
    """The shipped export on the runner the driver verified (no torch for attn-detect's OpenVINO runner),
    answering for the model it was made from (`facts`, from `model_payload`). It runs on the CPU in the
    precision that was verified; each actor compiles it for its own CPU."""
    from detect_cli.models import runtimes
    from detect_cli.models.known_models import HALF_ON_CPU

    origin_ref: ModelRef = facts["origin"]
    try:
        detector = runtimes.open_shipped(facts, folder, threads=threads)
    except Exception as exc:  # the driver verified this export with this runner: a failure here is the worker's
        raise ModelLoadError(
            f"a Ray worker cannot run the verified export of {origin_ref.spec}: {one_line(exc, first=True)}",
            "check that the workers have the driver's runtime versions, or run with --backend torch",
        ) from None
    if half:
        detector.notes.append(HALF_ON_CPU)
    return detector


def stopped(exc: AttnDetectError, first_index: int, *, shard: bool = False) -> dict[str, list]:
    """A batch that stopped the run (`ModelFailed`, say): one row that carries the error to the
    driver, where `raise_if_stopped` raises it again. Ray Data hands a worker's exception on only
    as text inside its own, which would reach the user as an unexpected error."""
    said = json.dumps({"type": type(exc).__name__, "message": exc.message, "hint": exc.hint})
    if shard:
        return {"shard": [""], "summary": [RunSummary()], "stopped": [said]}
    return {**_rows([ImageResult("", first_index)]), "stopped": [said]}


def _rows(results: list[ImageResult]) -> dict[str, list]:
    """A batch's results as Ray Data columns: each one's record, as every sink writes it, its file name,
    and its cap tally (core/caps.py: the run table's "passes that hit --max-det")."""
    return {
        "record": [dumps(image_record(r)) for r in results],
        "name": [r.name for r in results],
        "caps": [list(astuple(r.detections.metadata.get(CAPS, Capped()))) for r in results],
        "stopped": ["" for _ in results],
    }


def with_caps(result: ImageResult, caps: Any) -> ImageResult:
    """A result read back on the driver with the cap tally its actor counted (a `_rows` column)."""
    return replace(result, detections=result.detections.with_metadata(**{CAPS: Capped(*map(int, caps))}))


def raise_if_stopped(said: str) -> None:
    if said:
        error = json.loads(said)
        kind = {k.__name__: k for k in (ConfigError, ModelLoadError)}.get(error["type"], ModelFailed)
        raise kind(error["message"], error["hint"])


def write_shard(folder: Path, results: list[ImageResult]) -> dict[str, list]:
    """Write one batch's records as `part-<first index>.jsonl`. The name depends only on the batch,
    and the file appears by an atomic rename, so a retried batch replaces its shard: each input
    ends up in the output exactly once. Returns the batch's summary for the driver."""
    name = f"part-{results[0].index:09d}.jsonl"
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        sink = JsonlSink(fh)  # the same records as every other output
        for result in results:
            sink.write(result)
    os.replace(tmp, folder / name)
    summary = RunSummary()
    for result in results:
        summary.add(result)
    return {"shard": [name], "summary": [summary], "stopped": [""]}


def actor_arguments(
    detector: Detector,
    options: PredictOptions,
    read_options: ReadOptions,
    batch: int,
    ray_options: RayOptions,
    shard_dir: Path | None = None,
    slicing: SliceOptions | None = None,
) -> dict[str, Any]:
    """`DetectActor`'s constructor arguments: the model, the device and precision each actor runs it in."""
    asked = ray_options.device if ray_options.device is not None else detector.device
    device = actor_device(asked, ray_options.gpus_per_actor)
    half = ray_options.half if ray_options.half is not None else detector.half
    threads = ray_options.threads_per_actor or max(1, int(ray_options.cpus_per_actor))
    return {
        "payload": model_payload(detector, gpu=device != "cpu"),
        "options": options,
        "read": read_options,
        "batch": batch,
        "threads": threads,
        "shard_dir": str(shard_dir) if shard_dir else None,
        "device": device,
        "half": half,
        "slicing": slicing,
    }
