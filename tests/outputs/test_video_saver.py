"""A saved video is checked when it is finished: OpenCV's writer never says that a write failed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from detect_cli.outputs.image_saver import ImageSaver
from detect_cli.outputs.video_saver import VideoSaver

# The writes of a child process are limited to 64 KiB a file (RLIMIT_FSIZE, its SIGXFSZ ignored): they
# fail past it as on a full disk, without a disk to fill.
CUT_AT_64_KIB = """
import resource, signal, sys
from pathlib import Path
import numpy as np
import pytest
from detect_cli.outputs.image_saver import ImageSaver
from detect_cli.outputs.video_saver import VideoSaver

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
saver = VideoSaver(ImageSaver(Path(sys.argv[1])))
noise = np.random.default_rng(0)
for k in range(40):
    saver.add(0, "clip.mp4", "clip.mp4", noise.integers(0, 255, (240, 320, 3), np.uint8), k / 10)
try:
    saver.close()
except OSError as exc:
    print("refused:", exc)
else:
    print("closed")
"""


@pytest.mark.slow  # a subprocess
def test_a_video_cut_short_by_its_disk_is_an_error_when_closed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CUT_AT_64_KIB), str(tmp_path / "saved")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused: annotated video ") and "clip.mp4 is cut short (unplayable)" in proc.stdout
    assert (tmp_path / "saved" / "clip.mp4").stat().st_size <= 65536


def test_a_whole_video_closes_quietly_and_an_earlier_cut_one_is_kept_in_failures(tmp_path: Path) -> None:
    saver = VideoSaver(ImageSaver(tmp_path / "saved"))
    for k in range(5):
        saver.add(0, "a.mp4", "a.mp4", np.full((48, 64, 3), 40 * k, np.uint8), k / 10)
    first = saver.path
    assert first is not None
    first.parent.joinpath("a.mp4").write_bytes(b"")  # spoiled under the writer: what a full disk leaves
    saver.add(1, "b.mp4", "b.mp4", np.zeros((48, 64, 3), np.uint8), 0.0)  # closes a.mp4
    saver.add(1, "b.mp4", "b.mp4", np.zeros((48, 64, 3), np.uint8), 0.1)
    saver.close()
    assert [path for path, _ in saver.failures] == [first]
    assert "is cut short" in saver.failures[0][1]
    assert (tmp_path / "saved" / "b.mp4").stat().st_size > 0
