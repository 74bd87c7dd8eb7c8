"""Which file system a folder is on, and whether it sends file events for changes made elsewhere.

A network or FUSE mount (NFS, SMB, sshfs, 9p, a VM's shared folder) sees no inotify event when
another machine writes a file into it: a watch there must poll. Linux says the type of each
mount in /proc/self/mountinfo; elsewhere the type is unknown and events are used.
"""

from __future__ import annotations

import os
from pathlib import Path

NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "virtiofs",
        "vboxsf",
        "vmhgfs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse",
    }
)


def needs_polling(folder: Path, mountinfo: str = "/proc/self/mountinfo") -> bool:
    """True on a file system that sends no events for changes made elsewhere (network, FUSE), unless
    WATCHFILES_FORCE_POLLING says otherwise (watchfiles reads it itself)."""
    if os.environ.get("WATCHFILES_FORCE_POLLING"):
        return False
    kind = filesystem_type(folder, mountinfo)
    return kind is not None and kind.split(".")[0] in NETWORK_FS


def filesystem_type(folder: Path, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type of the file system `folder` is on (`nfs4`, `fuse.sshfs`, ...), from Linux's
    mountinfo; None elsewhere."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    target, best, kind = os.path.realpath(folder), -1, None
    for line in lines:
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 5:
            continue
        mount = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > best:
            best, kind = len(mount), fields[fields.index("-") + 1]
    return kind
