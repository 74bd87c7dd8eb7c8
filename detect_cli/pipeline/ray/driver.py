"""`detect --engine ray`, the driver's side: the same detect job on a Ray cluster, with Ray Data.

Sources become a dataset; an actor pool (`map_batches` with `actor.DetectActor`) runs the very same
`engine.detect_stream` on its batches, so reading, decoding, inference and the records are the local
engine's code, only placed in the workers. Records come back in input order and are read back into
`ImageResult`s, so every sink, summary and exit code is the local one. A worker that dies is
restarted by Ray and its batch retried, so each input still appears exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from detect_cli.core.results import ImageResult
from detect_cli.inputs.images import ReadOptions
from detect_cli.inputs.sources import Source
from detect_cli.models.detector import Detector, PredictOptions
from detect_cli.outputs.records import SCHEMA_VERSION, result_from_record
from detect_cli.pipeline.ray.actor import DetectActor, actor_arguments, raise_if_stopped, with_caps
from detect_cli.pipeline.ray.cluster import RayOptions, check_paths_visible, connect, require_ray
from detect_cli.pipeline.run_summary import RunSummary
from detect_cli.pipeline.slicing import SliceOptions


def _dataset(
    items: list[tuple[int, Source]],
    detector: Detector,
    options: PredictOptions,
    read_options: ReadOptions,
    batch: int,
    ray_options: RayOptions,
    shard_dir: Path | None = None,
    slicing: SliceOptions | None = None,
) -> Any:
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
            yield with_caps(
                result_from_record(json.loads(row["record"]), detector.names, str(row["name"])), row["caps"]
            )


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
    require_ray()
    connect(ray_options)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, shards = RunSummary(), []
    start = time.perf_counter()
    items = _items(sources, None)
    if items:
        dataset = _dataset(
            items, detector, options, read_options, batch, ray_options, shard_dir=out_dir.resolve(), slicing=slicing
        )
        for block in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for said in block["stopped"]:
                raise_if_stopped(str(said))  # the shards written so far stay, with no manifest
            shards += [str(n) for n in block["shard"]]
            for part in block["summary"]:
                summary.merge(part)
    summary.wall_s = time.perf_counter() - start
    manifest = {
        "schema_version": SCHEMA_VERSION,
        **(metadata or {}),
        "shards": sorted(shards),
        "summary": summary.as_dict(),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return summary
