"""Reaching a Ray cluster for `detect --engine ray`: joining one (an address, RAY_ADDRESS) or starting a
local one, with Ray's own printing kept off stdout (our results go there), and checking that every node
sees the input paths the driver sees."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from detect_cli.core.errors import ConfigError
from detect_cli.inputs.sources import Source


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
            # "local", not None: None joins whatever /tmp/ray/ray_current_cluster names, which a crashed
            # earlier instance leaves behind ("num_cpus ... must not be provided" when it is gone)
            ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"--address {address or 'local'}: cannot connect to the Ray cluster ({str(exc).splitlines()[0]})",
            "check the address, or leave --address out to start a local instance",
        ) from None


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
        raise ConfigError(
            f"--address {address}: no Ray cluster answers there ({exc})",
            "check the address (HOST:PORT or ray://HOST:10001), or leave it out for a local instance",
        ) from None


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
