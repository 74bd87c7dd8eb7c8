"""Whether an image file looks whole, from its first and last bytes: a file still being copied is
not read yet (`watch.py`), rather than read half and reported broken.

JPEG ends with its EOI marker, PNG with its IEND chunk, GIF with its trailer byte; WebP and BMP give
their length in the header. Other formats (TIFF) pass: for them only the file's stillness counts.
"""

from __future__ import annotations

import os

from detect_cli.core.guarded_read import UnreadableFile, open_regular

_EDGE = 32  # bytes read at each end


def looks_complete(path: str | os.PathLike[str]) -> bool:
    """False when the file is empty or its format says more is to come; True otherwise (also for a
    format we cannot tell, and when the file cannot be read: the reader then says why). Opened as the
    reader opens: a FIFO renamed over a settling file is not waited on (it blocked the watcher for ever)."""
    try:
        with open_regular(path) as fh:
            head = fh.read(_EDGE)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _EDGE))
            tail = fh.read(_EDGE)
    except (OSError, UnreadableFile):
        return True
    if not head:
        return False
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" in tail  # EOI; cameras may pad a few bytes after it
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail
    if head.startswith((b"GIF87a", b"GIF89a")):
        return tail.endswith(b"\x3b")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP" and len(head) >= 8:
        return size >= int.from_bytes(head[4:8], "little") + 8
    if head.startswith(b"BM") and len(head) >= 6:
        declared = int.from_bytes(head[2:6], "little")
        return declared == 0 or size >= declared  # some writers leave the size 0
    return True
