"""The file system of a folder, from mountinfo: network and FUSE mounts are polled, local ones send events."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detect_cli.inputs.filesystems import filesystem_type, needs_polling

MOUNTS = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:38 / /mnt/share rw,relatime shared:2 - nfs4 server:/export rw,vers=4.2
41 40 0:39 / /mnt/share/local\\040disk rw - ext4 /dev/sdb1 rw
42 22 0:40 / /home/me/remote rw - fuse.sshfs me@host: rw
"""


@pytest.mark.parametrize(
    ("folder", "kind", "polls"),
    [
        ("/home/me/photos", "ext4", False),
        ("/mnt/share/drop", "nfs4", True),
        ("/mnt/share/local disk/drop", "ext4", False),  # the longest mount point wins; \\040 is a space
        ("/home/me/remote/in", "fuse.sshfs", True),
    ],
)
def test_network_file_systems_are_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, kind: str, polls: bool
) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTS)
    monkeypatch.setattr(os.path, "realpath", lambda p: str(p))
    monkeypatch.delenv("WATCHFILES_FORCE_POLLING", raising=False)
    assert filesystem_type(Path(folder), str(mountinfo)) == kind
    assert needs_polling(Path(folder), str(mountinfo)) is polls
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "false")  # the user's word: watchfiles reads it
    assert needs_polling(Path(folder), str(mountinfo)) is False
