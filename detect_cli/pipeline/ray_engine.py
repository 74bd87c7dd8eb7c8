"""`detect --engine ray`: the same detect job on a Ray cluster, with Ray Data.

Sources become a dataset; an actor pool (`map_batches` with a callable class) loads the model
once per actor, on the device it reserves (`actor_device`: the GPU Ray gives it with
`--gpus-per-actor`, in `--half` if asked; else the CPU), and runs the very same
`engine.detect_stream` on its batches, so reading, decoding, inference and the result records
are the local engine's code, only placed in the
workers. The model reaches workers through the object store (checkpoint bytes), not a shared
disk. Results come back to the driver in input order as plain columns and are rebuilt into
`ImageResult`s, so every sink, summary and exit code is the local one. A worker that dies is
restarted by Ray and its batch retried, so each input still appears exactly once.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import warnings
import weakref
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import AttnDetectError, ConfigError, ModelFailed, ModelLoadError
from detect_cli.core.results import ImageResult, RunSummary, Timing
from detect_cli.inputs.images import ReadOptions
from detect_cli.inputs.sources import Source
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.models.lookup import ModelRef
from detect_cli.pipeline.slicing import SliceOptions

COLUMNS = ("index", "ref", "name", "is_url", "error")


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: RAY_ADDRESS, else a new local instance
    actors: int = 1
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0
    threads_per_actor: int = 0  # torch threads in each actor, 0 = its CPU share
    device: str | None = None  # --device as asked (auto: ""); None: the driver's detector's
    half: bool | None = None  # --half as asked; None: the driver's detector's
    object_store_mb: int | None = None  # for a local instance only
    verbose: bool = False


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray, which is not installed", 'pip install "attn-detect[ray]"')


def connect(options: RayOptions) -> None:
    """Join RAY_ADDRESS / --address, or start a local instance; quiet unless verbose."""
    import ray

    _keep_stdout_for_results(options.verbose)
    if not options.verbose:
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ log lines, behind --verbose
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
        warnings.filterwarnings("ignore", message=".*(ray_remote_args|use_arrow_tensor_v2).*")
    if not ray.is_initialized():
        _start(options)
    from ray.data import DataContext

    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # records come back in input order
    context.enable_progress_bars = False  # one progress bar: ours
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.INFO if options.verbose else logging.ERROR)


def _start(options: RayOptions) -> None:
    import ray

    address = options.address or os.environ.get("RAY_ADDRESS")
    if address and address != "auto":
        _check_reachable(address)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": options.verbose,
        "logging_level": logging.INFO if options.verbose else logging.ERROR,
        "configure_logging": True,
    }
    if not address:
        kwargs["num_cpus"] = max(os.cpu_count() or 1, int(options.actors * options.cpus_per_actor))
        if options.object_store_mb:
            kwargs["object_store_memory"] = options.object_store_mb * 2**20
    try:
        with contextlib.nullcontext() if options.verbose else _without_log_level_line():
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"--address {address}: cannot connect to the Ray cluster ({str(exc).splitlines()[0]})",
                          "check the address, or leave --address out to start a local instance") from None  # fmt: skip


LOG_LEVEL_LINE = b"Set ray log level from environment variable"


@contextlib.contextmanager
def _without_log_level_line() -> Iterator[None]:
    """RAY_BACKEND_LOG_LEVEL keeps the C++ core's lines off stderr, but the core announces that
    setting on stderr itself as the driver connects ("logging.cc:...: Set ray log level from
    environment variable..."). While `ray.init` runs, file descriptor 2 goes to a temporary file;
    afterwards everything in it but that line is passed on to stderr, in order."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (2>&-): nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as said:
        os.dup2(said.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            said.seek(0)
            kept = b"".join(line for line in said if LOG_LEVEL_LINE not in line)
            if kept:
                sys.stderr.write(kept.decode(errors="replace"))
                sys.stderr.flush()


def _keep_stdout_for_results(verbose: bool) -> None:
    """Ray prints its workers' output and the raylet's messages (e.g. "task failed, retrying") on
    the driver's stdout, which carries our results: send them to stderr, and only with --verbose."""
    from ray._private import worker

    original = getattr(worker.print_to_stdstream, "__wrapped__", worker.print_to_stdstream)

    def to_stderr(data: dict, ignore_prefix: bool) -> None:
        if verbose:
            original({**data, "is_err": True}, ignore_prefix)

    to_stderr.__wrapped__ = original  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """Ray waits minutes on an address nobody answers; a plain TCP connect tells in seconds."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({exc})",
                          "check the address (HOST:PORT or ray://HOST:10001), or leave it out for a local instance",
                          ) from None  # fmt: skip


def actor_device(requested: str, gpus_per_actor: float) -> str:
    """The device an actor loads its model on. Ray shows an actor only the GPUs it reserves, and
    numbers them from 0 (CUDA_VISIBLE_DEVICES), so a GPU index given on the driver names no GPU in
    an actor: with `--gpus-per-actor` the actor runs on its GPU ("0"), without it on the CPU. A
    device that contradicts the reservation is refused before any actor starts."""
    wanted = requested.strip().lower()
    if gpus_per_actor > 0:
        if wanted == "cpu":
            raise ConfigError(f"--device cpu with --gpus-per-actor {gpus_per_actor:g}: each actor would reserve a GPU "
                              "and never use it", "drop --device cpu, or --gpus-per-actor")  # fmt: skip
        return "0"
    if wanted in {"", "auto", "cpu"}:
        return "cpu"
    if wanted == "mps":  # Apple's GPU is not one Ray reserves: each actor on a Mac may use it
        return "mps"
    raise ConfigError(f"--device {requested} with --engine ray needs --gpus-per-actor",
                      "Ray gives an actor a GPU only when it reserves one: add --gpus-per-actor 1 (or 0.5 to share "
                      "one GPU between two actors)")  # fmt: skip


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
    with tempfile.TemporaryDirectory() as scratch:
        if gpu and origin is not None and origin.kind == "weights":
            ref, path = origin, Path(origin.path)
        else:
            ref, path = detector.ref, detector.checkpoint(Path(scratch))
        blob = ray.put(_zip_folder(path) if path.is_dir() else path.read_bytes())
    ref = replace(ref, path=path.name, kind="exported" if ref.kind == "exported" else "weights")
    return {"ref": ref, "blob": blob, "suffix": path.suffix, "folder": path.is_dir()}


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


def check_paths_visible(sources: list[Source]) -> None:
    """Local image paths must exist on every node: ask one task per node about a sample of them."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    sample = [s.ref for s in sources if not s.is_url and not s.error][:: max(1, len(sources) // 20)][:20]
    if not sample:
        return

    @ray.remote(num_cpus=0)
    def missing(paths: list[str]) -> list[str]:
        return [p for p in paths if not os.path.exists(p)]

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    checks = [
        missing.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(sample)
        for n in nodes
    ]
    for node, absent in zip(nodes, ray.get(checks)):
        if absent:
            raise ConfigError(
                f"worker node {node.get('NodeManagerAddress')} cannot see {absent[0]} ({len(absent)} of "
                f"{len(sample)} sampled paths missing)",
                "put the images on storage every node mounts at the same path, or pass URLs",
            )


class DetectActor:
    """Loads the model once; each call runs the local engine on a batch of sources."""

    def __init__(self, payload: dict[str, Any], options: PredictOptions, read: ReadOptions, batch: int, threads: int,
                 shard_dir: str | None = None, device: str = "cpu", half: bool = False,
                 slicing: SliceOptions | None = None) -> None:  # fmt: skip
        from detect_cli.models.detector import load_detector
        from detect_cli.pipeline.slicing import SlicedDetector

        ref: ModelRef = payload["ref"]
        scratch = tempfile.mkdtemp(prefix="attn-detect-model-")
        weakref.finalize(self, shutil.rmtree, scratch, True)  # at the latest when the worker exits
        local = _unpack_model(payload, ref, Path(scratch))
        self.detector = load_detector(replace(ref, path=str(local)), device=device, half=half, threads=threads)
        if ref.kind != "exported":  # a checkpoint is in memory now (an export is opened at its first batch)
            shutil.rmtree(scratch, ignore_errors=True)
        if slicing is not None:  # --slice travels as options; each actor wraps its own model
            self.detector = SlicedDetector(self.detector, slicing, batch)
        self.options, self.read, self.batch, self.shard_dir = options, read, batch, shard_dir

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, list]:
        from detect_cli.pipeline.engine import detect_stream

        if os.environ.get("ATTN_DETECT_FAULT_FILE"):  # fault injection for the tests, see tests/test_ray_engine.py
            _maybe_die(rows)
        sources = [Source(str(r), str(n), bool(u), str(e) if e else None)
                   for r, n, u, e in zip(rows["ref"], rows["name"], rows["is_url"], rows["error"])]  # fmt: skip
        results = detect_stream(sources, self.detector, self.options, batch=self.batch, read_options=self.read)
        try:
            results = [replace(r, index=int(i), image=None) for r, i in zip(results, rows["index"])]
        except AttnDetectError as exc:  # the run stops (ModelFailed): tell the driver, which raises it
            return stopped(exc, int(rows["index"][0]), shard=bool(self.shard_dir))
        if self.shard_dir:
            return write_shard(Path(self.shard_dir), results)
        return to_columns(results)


def stopped(exc: AttnDetectError, first_index: int, *, shard: bool = False) -> dict[str, list]:
    """A batch that stopped the run (`ModelFailed`, say): one row that carries the error to the
    driver, where `raise_if_stopped` raises it again. Ray Data hands a worker's exception on only
    as text inside its own, which would reach the user as an unexpected error."""
    said = json.dumps({"type": type(exc).__name__, "message": exc.message, "hint": exc.hint})
    if shard:
        return {"shard": [""], "summary": [RunSummary()], "stopped": [said]}
    return {**to_columns([ImageResult("", first_index)]), "stopped": [said]}


def raise_if_stopped(said: str) -> None:
    if said:
        error = json.loads(said)
        kind = {k.__name__: k for k in (ConfigError, ModelLoadError)}.get(error["type"], ModelFailed)
        raise kind(error["message"], error["hint"])


def write_shard(folder: Path, results: list[ImageResult]) -> dict[str, list]:
    """Write one batch's records as `part-<first index>.jsonl`. The name depends only on the batch,
    and the file appears by an atomic rename, so a retried batch replaces its shard: each input
    ends up in the output exactly once. Returns the batch's summary for the driver."""
    from detect_cli.core.results import RunSummary
    from detect_cli.outputs.sinks import JsonlSink

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


def _maybe_die(rows: dict[str, np.ndarray]) -> None:
    """Kill this worker process once, on the batch holding the named input (a real crash)."""
    marker = Path(os.environ["ATTN_DETECT_FAULT_FILE"])
    victim = marker.read_text().strip() if marker.exists() else ""
    if victim and victim in {os.path.basename(str(r)) for r in rows["ref"]}:
        marker.unlink()
        os._exit(1)


def to_columns(results: list[ImageResult]) -> dict[str, list]:
    return {
        "index": [r.index for r in results],
        "source": [r.source for r in results],
        "name": [r.name for r in results],
        "error": [r.error or "" for r in results],
        "width": [r.width or 0 for r in results],
        "height": [r.height or 0 for r in results],
        "boxes": [r.detections.xyxy.reshape(-1).tolist() for r in results],
        "confidence": [r.detections.confidence.tolist() for r in results],
        "class_id": [r.detections.class_id.tolist() for r in results],
        "timing": [[r.timing.read, r.timing.preprocess, r.timing.inference, r.timing.postprocess] for r in results],
        "stopped": ["" for _ in results],
    }


def from_row(row: dict[str, Any], names: dict[int, str]) -> ImageResult:
    error = str(row["error"]) or None
    detections = Detections(np.asarray(row["boxes"], dtype=np.float32).reshape(-1, 4), row["confidence"],
                            row["class_id"])  # fmt: skip
    return ImageResult(
        str(row["source"]), int(row["index"]), detections, names,
        int(row["width"]) or None, int(row["height"]) or None, Timing(*map(float, row["timing"])), error,
        str(row["name"]),
    )  # fmt: skip


def actor_arguments(detector: Detector, options: PredictOptions, read_options: ReadOptions, batch: int,
                    ray_options: RayOptions, shard_dir: Path | None = None,
                    slicing: SliceOptions | None = None) -> dict[str, Any]:  # fmt: skip
    """`DetectActor`'s constructor arguments: the model, the device and precision each actor runs it in."""
    asked = ray_options.device if ray_options.device is not None else detector.device
    device = actor_device(asked, ray_options.gpus_per_actor)
    half = ray_options.half if ray_options.half is not None else detector.half
    threads = ray_options.threads_per_actor or max(1, int(ray_options.cpus_per_actor))
    return {"payload": model_payload(detector, gpu=device != "cpu"), "options": options, "read": read_options,
            "batch": batch, "threads": threads, "shard_dir": str(shard_dir) if shard_dir else None,
            "device": device, "half": half, "slicing": slicing}  # fmt: skip


def _dataset(items: list[tuple[int, Source]], detector: Detector, options: PredictOptions, read_options: ReadOptions,
             batch: int, ray_options: RayOptions, shard_dir: Path | None = None,
             slicing: SliceOptions | None = None) -> Any:  # fmt: skip
    import ray

    check_paths_visible([s for _, s in items])
    rows = [{"index": i, "ref": s.ref, "name": s.name, "is_url": s.is_url, "error": s.error or ""} for i, s in items]
    constructor = actor_arguments(detector, options, read_options, batch, ray_options, shard_dir, slicing)
    blocks = max(1, min(len(rows), 4 * ray_options.actors))
    return ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        DetectActor,
        fn_constructor_kwargs=constructor,
        batch_size=max(batch, 8),
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=ray_options.actors),
        num_cpus=ray_options.cpus_per_actor,
        num_gpus=ray_options.gpus_per_actor,
        max_restarts=3,  # a worker that dies comes back, and its batch is retried
        max_task_retries=3,
    )


def _items(sources: Iterable[Source], skip: Callable[[int, Source], bool] | None) -> list[tuple[int, Source]]:
    return [(i, s) for i, s in enumerate(sources) if skip is None or not skip(i, s)]  # indices kept


def ray_detect_stream(
    sources: Iterable[Source],
    detector: Detector,
    options: PredictOptions,
    *,
    read_options: ReadOptions = ReadOptions(),
    batch: int = 1,
    ray_options: RayOptions = RayOptions(),
    skip: Callable[[int, Source], bool] | None = None,
    slicing: SliceOptions | None = None,
) -> Iterator[ImageResult]:
    """Like `engine.detect_stream`, on Ray: one `ImageResult` per source, in source order."""
    require_ray()
    connect(ray_options)
    items = _items(sources, skip)
    if not items:
        return
    dataset = _dataset(items, detector, options, read_options, batch, ray_options, slicing=slicing)
    for block in dataset.iter_batches(batch_size=None, batch_format="pandas"):
        for row in block.to_dict("records"):
            raise_if_stopped(row["stopped"])
            yield from_row(row, detector.names)


def ray_detect_to_shards(
    sources: Iterable[Source],
    detector: Detector,
    options: PredictOptions,
    out_dir: Path,
    *,
    read_options: ReadOptions = ReadOptions(),
    batch: int = 1,
    ray_options: RayOptions = RayOptions(),
    metadata: dict[str, Any] | None = None,
    slicing: SliceOptions | None = None,
) -> RunSummary:
    """For huge runs: workers write JSONL shards into `out_dir` (it must be on storage the workers
    share with the driver), the driver only merges per-batch summaries and writes `manifest.json`."""
    from detect_cli.core.results import SCHEMA_VERSION, RunSummary

    require_ray()
    connect(ray_options)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, shards = RunSummary(), []
    start = time.perf_counter()
    items = _items(sources, None)
    if items:
        dataset = _dataset(items, detector, options, read_options, batch, ray_options, shard_dir=out_dir.resolve(),
                           slicing=slicing)
        for block in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for said in block["stopped"]:
                raise_if_stopped(str(said))  # the shards written so far stay, with no manifest
            shards += [str(n) for n in block["shard"]]
            for part in block["summary"]:
                summary.merge(part)
    summary.wall_s = time.perf_counter() - start
    manifest = {"schema_version": SCHEMA_VERSION, **(metadata or {}), "shards": sorted(shards),
                "summary": summary.as_dict()}  # fmt: skip
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return summary
