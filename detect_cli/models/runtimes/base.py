"""What every runtime answers (see the package's docstring). A runtime whose export Ultralytics'
`AutoBackend` runs needs nothing but its row: `Runtime`'s answers are that wrapper's."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detect_cli.models.decision import Decision
    from detect_cli.models.detector import Detector

Loader = Callable[[], "Detector"]


@dataclass(frozen=True)
class Runtime:
    name: str  # as --backend takes it and a cache decision records it
    display: str  # for people
    package: str | None  # the module that must be importable to run it; None: always here
    export_format: str | None  # Ultralytics' export format; None: it runs the checkpoint itself
    runners: tuple[str, ...] = ("ultralytics",)  # what may run its export, best first
    quantizes: bool = False  # --precision int8 is made from its export (and gated)

    def usable(self) -> bool:
        """Its package is installed (the run says "not installed" otherwise)."""
        return self.package is None or importlib.util.find_spec(self.package) is not None

    def folder(self, entry: Path) -> Path:
        """The folder of a cache entry that holds this runtime's files: its export and anything compiled
        from it. Every file in it must be one the decision recorded (`runtime_cache.load_decision`)."""
        return entry / self.name

    def export(self, detector: Detector, folder: Path, imgsz: int) -> Path:
        from detect_cli.models.export import FORMATS, export_model

        if self.export_format is None:
            raise ValueError(f"{self.name} runs the checkpoint itself: nothing to export")
        return export_model(detector, FORMATS[self.export_format], folder, imgsz=imgsz)

    def loaders(self, detector: Detector, path: Path, threads: int) -> list[tuple[str, Loader]]:
        """What may run the export at `path` (runner name, how to open it), best first."""
        return [("ultralytics", lambda: wrapped(detector, path, threads, set_threads=True))]

    def discard_compiled(self, path: Path) -> None:
        """Drop what a runner compiled from the export at `path` while being checked (it will not run)."""

    def open_cached(self, detector: Detector, entry: Path, decision: Decision, threads: int) -> Detector:
        """The entry's export opened by the runner the decision names (its files already checked)."""
        return wrapped(detector, entry / str(decision.path), threads)

    def open_export(self, path: Path, origin: Detector, *, threads: int = 0) -> Detector:
        """An export of `origin` (made outside the cache: `export --int8`) on this runtime's best runner."""
        return wrapped(origin, path, threads)

    def runner_of(self, detector: Detector) -> str | None:
        if detector.backend == self.name and detector.ref.kind == "exported":
            return "ultralytics"
        return None

    def shipped_facts(self, detector: Detector, origin: Any) -> dict[str, Any] | None:
        return None  # Ultralytics' loader opens the shipped export as it is

    def open_shipped(self, facts: dict[str, Any], folder: Path, *, threads: int) -> Detector:
        raise ValueError(f"{self.name} ships no runner of its own")


def wrapped(detector: Detector, path: Path, threads: int, *, set_threads: bool = False) -> Detector:
    """The export through Ultralytics' wrapper, answering for `detector` (the user's model): beside
    it, torch only letterboxes and decodes boxes, so it keeps to `torch_threads_beside`."""
    from detect_cli.models.export import load_exported

    if set_threads:
        from detect_cli.models.ultralytics_env import set_torch_threads

        set_torch_threads(torch_threads_beside(threads))  # checked and timed as it will run
    exported = load_exported(path, detector.ref.family, threads=torch_threads_beside(threads))
    return replace(
        exported,
        ref=replace(exported.ref, spec=detector.ref.spec),
        origin=detector.ref,
        names=detector.names,
        end2end_capable=detector.end2end_capable,
    )


def torch_threads_beside(threads: int) -> int:
    """Torch threads while another runtime runs the network: torch then only letterboxes and decodes
    boxes, and a second pool of spinning threads slows the runtime's own (demo on 2 cores: 10.7 ->
    6.8 ms inference, 15.4 -> 11.1 ms per image end to end). An explicit --threads is kept."""
    return threads if threads > 0 else 1
