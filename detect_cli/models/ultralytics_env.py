"""The one door to Ultralytics: import it quietly, keep stdout clean, leave a core free as it does.

Ultralytics logs to stdout and prints a settings banner on its first import on a new
machine; our stdout carries results only, so its logger is pointed at stderr, and what it says
while being imported is held back: shown only once someone asks for --verbose.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from types import ModuleType

_state: dict[str, ModuleType] = {}
_held_at_import: list[logging.LogRecord] = []  # the first-run settings banner, for --verbose


class _HoldInfo(logging.Filter):
    """Keeps INFO (and lower) records back instead of letting them through; warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        _held_at_import.append(record)
        return False


class _CurrentStderr:
    """A stream that writes to whatever `sys.stderr` is now (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def import_ultralytics(verbose: bool = False) -> ModuleType:
    if "ultralytics" not in _state:
        os.environ.setdefault("YOLO_AUTOINSTALL", "False")  # never pip-install at run time
        os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")  # model files run no code (see model_loading)
        os.environ.setdefault("OMP_NUM_THREADS", str(default_torch_threads()))
        hold = _HoldInfo()
        logging.getLogger("ultralytics").addFilter(hold)  # kept by Ultralytics' own set-up of that logger
        try:
            with contextlib.redirect_stdout(sys.stderr):
                import ultralytics
                from ultralytics.utils import LOGGER
        finally:
            logging.getLogger("ultralytics").removeFilter(hold)
        for handler in LOGGER.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(_CurrentStderr())  # type: ignore[arg-type]
        _state["ultralytics"] = ultralytics
    set_verbose(verbose)
    return _state["ultralytics"]


@contextlib.contextmanager
def model_loading(trusted: bool = False) -> Iterator[None]:
    """Load model files without running code in them, unless the user trusts the file.

    Ultralytics' restricted loading (`ULTRALYTICS_SAFE_LOAD`) unpickles a checkpoint with
    `weights_only=True` against an allow-list of its own classes, and builds a model YAML without
    `eval()` (its `activation:` line is otherwise evaluated). The flag is read once at import, so
    the module constants are set for the duration of the load instead."""
    import_ultralytics()
    from ultralytics import utils
    from ultralytics.nn import tasks

    before = tasks.SAFE_LOAD, utils.SAFE_LOAD
    tasks.SAFE_LOAD = utils.SAFE_LOAD = not trusted
    try:
        yield
    finally:
        tasks.SAFE_LOAD, utils.SAFE_LOAD = before


def openvino_in_fp32() -> None:
    """OpenVINO computes in bf16 on CPUs that can (AVX512_BF16, AMX) unless told otherwise, which moved
    the demo RT-DETR's confidences by up to 0.05 and its mAP50-95 by 0.01 here. Ultralytics makes its
    own `ov.Core()`, so every Core made from now on asks the CPU plugin for f32."""
    import openvino as ov

    if getattr(ov.Core, "_attn_detect_fp32", False):
        return

    class Fp32Core(ov.Core):
        _attn_detect_fp32 = True

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            if "CPU" in self.available_devices:
                self.set_property("CPU", {"INFERENCE_PRECISION_HINT": ov.Type.f32})

    ov.Core = Fp32Core


def set_verbose(verbose: bool) -> None:
    from ultralytics.utils import LOGGER

    LOGGER.setLevel(logging.INFO if verbose else logging.WARNING)
    for handler in LOGGER.handlers:
        handler.setLevel(logging.INFO if verbose else logging.WARNING)
    while verbose and _held_at_import:
        LOGGER.handle(_held_at_import.pop(0))


def default_torch_threads() -> int:
    """What the stock Ultralytics loop computes on: every core but one (at least one), so that the
    machine's other work (and this run's own reading and writing) keeps a core. With a thread on
    every core, 200 images on a busy 2-core machine took 1.6x to 8.8x the stock loop's time."""
    return max(1, (os.cpu_count() or 1) - 1)


def set_torch_threads(threads: int = 0) -> int:
    """Torch's threads for this run: `threads` when the user set it, else `default_torch_threads`.
    Ultralytics' `select_device` resets torch to its own constant each time a predictor is set up,
    so that constant is set as well."""
    import torch
    from ultralytics.utils import torch_utils

    n = threads if threads > 0 else default_torch_threads()
    torch_utils.NUM_THREADS = n
    torch.set_num_threads(n)
    return n


def torch_threads() -> int:
    """The threads torch computes on; when nothing imported torch (every model ran on a torch-free
    runtime, which uses every core unless --threads says otherwise), the core count."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else os.cpu_count() or 1
