"""A new user's environment for a benchmark's subprocesses: its own runtime cache, Ultralytics config
and bytecode folder under `work`, offline, and no backend forced from the caller's shell."""

from __future__ import annotations

import os
from pathlib import Path


def fresh_env(work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "YOLO_OFFLINE": "1",
        "PYTHONPYCACHEPREFIX": str(work / "pycache"),
        "ATTN_DETECT_CACHE_DIR": str(work / "cache"),
        "YOLO_CONFIG_DIR": str(work / "yolo"),
    }
    for name in ("PYTHONDONTWRITEBYTECODE", "ATTN_DETECT_BACKEND"):
        env.pop(name, None)
    return env
