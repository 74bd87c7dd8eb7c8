"""`--format mot`: MOTChallenge rows (`frame,id,x,y,w,h,conf,-1,-1,-1`, frame 1-based), one sequence per file."""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult, sequence_key
from detect_cli.outputs.records import BOX_DECIMALS, CONF_DECIMALS
from detect_cli.outputs.sinks import Sink


class MotSink(Sink):
    """MOTChallenge rows for one sequence (a video, or a folder of frames): 1-based frame numbers
    (a video's own, so --vid-stride leaves gaps), then `id,x,y,w,h,conf,-1,-1,-1`; id -1 for boxes
    in no track (without --track: detections, as in MOT's det.txt)."""

    def __init__(self, stream: IO[str], meta: dict[str, Any] | None = None) -> None:
        super().__init__(stream, meta)
        self._sequence: str | None = None
        self._position = 0

    def write(self, result: ImageResult) -> None:
        if not result.ok:
            return  # errors go to stderr and the summary; MOT files have no place for them
        key = sequence_key(result)
        if self._sequence is None:
            self._sequence = key
        elif key != self._sequence:
            raise ConfigError(
                f"--format mot holds one sequence, and {result.source} starts a second (after {self._sequence})",
                "run one video (or folder of frames) per MOT file, or use --format jsonl",
            )
        self._position += 1
        frame = result.frame + 1 if result.frame is not None else self._position
        self._put("".join(mot_rows(frame, result.detections)))


def check_one_sequence(args: Iterable[str], *, recursive: bool) -> None:
    """Refuse, before any model loads, inputs that are more than one sequence for `--format mot`
    (which holds one): two videos, or a video and stills, or stills of two folders. Arguments that
    can be read only once (`-`, a list that is a pipe) are left to `MotSink`, which refuses the
    second sequence when it comes."""
    from detect_cli.inputs.sources import is_video, iter_sources

    def readable_twice(arg: str) -> bool:
        if arg.strip() == "-":
            return False
        if arg.startswith("@"):
            try:
                return stat.S_ISREG(Path(arg[1:]).stat().st_mode)
            except OSError:
                return False
        return True

    first: str | None = None
    for source in iter_sources([a for a in args if readable_twice(a)], recursive=recursive):
        if source.error:
            continue  # an error record: no rows in a MOT file
        key = source.ref if is_video(source.ref) else str(PurePosixPath(source.ref.replace("\\", "/")).parent)
        if first is None:
            first = key
        elif key != first:
            raise ConfigError(
                f"--format mot holds one sequence, and {source.ref} starts a second (after {first})",
                "run one video (or folder of frames) per MOT file, or use --format jsonl",
            )


def mot_rows(frame: int, detections: Detections) -> list[str]:
    ids = detections.track_id if detections.track_id is not None else np.full(len(detections), -1)
    rows = []
    for (box, conf, _cls), track in zip(detections, ids.tolist()):
        x1, y1, x2, y2 = (round(float(v), BOX_DECIMALS) for v in box)
        rows.append(
            f"{frame},{track},{x1:g},{y1:g},{round(x2 - x1, 2):g},{round(y2 - y1, 2):g},"
            f"{round(conf, CONF_DECIMALS):g},-1,-1,-1\n"
        )
    return rows
