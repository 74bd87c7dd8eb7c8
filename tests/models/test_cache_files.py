"""The runtime cache as untrusted input: paths stay in their entry, digests are memoised safely."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from detect_cli.models.cache_files import (
    DigestMemo,
    EntryMismatch,
    check_files,
    digest_files,
    inside,
    listing,
    read_json,
    remove_entry,
    write_json_atomic,
)


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    folder = tmp_path / "backends" / "key" / "openvino" / "m_openvino_model"
    folder.mkdir(parents=True)
    (folder / "m.xml").write_text("<net/>")
    (folder / "m.bin").write_bytes(b"\x00" * 64)
    (tmp_path / "backends" / "other").mkdir()
    (tmp_path / "backends" / "other" / "evil.xml").write_text("<evil/>")
    return tmp_path / "backends" / "key"


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("../other/evil.xml", "leaves its cache entry"),
        ("openvino/../../other/evil.xml", "leaves its cache entry"),
        ("/etc/passwd", "leaves its cache entry"),
        ("./openvino", "leaves its cache entry"),
        ("openvino\\m_openvino_model", "bad path"),
        ("", "bad path"),
        (["openvino"], "bad path"),
        (None, "bad path"),
        ("openvino/missing.xml", "missing"),
    ],
)
def test_a_path_that_leaves_its_entry_is_refused(entry: Path, relative: object, message: str) -> None:
    with pytest.raises(EntryMismatch, match=message):
        inside(entry, relative)


def test_a_symbolic_link_anywhere_in_the_entry_is_refused(entry: Path) -> None:
    assert inside(entry, "openvino/m_openvino_model/m.xml") == entry / "openvino/m_openvino_model/m.xml"
    (entry / "openvino" / "link.xml").symlink_to(entry.parent / "other" / "evil.xml")
    with pytest.raises(EntryMismatch, match="symbolic link"):
        inside(entry, "openvino/link.xml")
    (entry / "elsewhere").symlink_to(entry.parent / "other", target_is_directory=True)
    with pytest.raises(EntryMismatch, match="symbolic link"):
        inside(entry, "elsewhere/evil.xml")  # the file itself is regular: the folder on the way is a link


def test_the_memo_is_used_for_an_unchanged_file(tmp_path: Path, entry: Path) -> None:
    weights = entry / "openvino/m_openvino_model/m.bin"
    memo = DigestMemo(tmp_path / "digests.json")
    real = memo.digest(weights)
    memo.save()
    saved = json.loads((tmp_path / "digests.json").read_text())
    saved[str(weights)]["sha256"] = "f" * 64  # same identity and times: the memo is believed, the file not read
    (tmp_path / "digests.json").write_text(json.dumps(saved))
    assert DigestMemo(tmp_path / "digests.json").digest(weights) == "f" * 64
    assert real != "f" * 64


def test_a_changed_file_is_hashed_again_even_with_its_size_and_mtime_put_back(tmp_path: Path, entry: Path) -> None:
    weights = entry / "openvino/m_openvino_model/m.bin"
    memo = DigestMemo(tmp_path / "digests.json")
    before = memo.digest(weights)
    memo.save()
    st = os.stat(weights)
    weights.write_bytes(b"\x01" * 64)  # same size
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime: only ctime tells
    assert os.stat(weights).st_mtime_ns == st.st_mtime_ns and os.stat(weights).st_size == st.st_size
    after = DigestMemo(tmp_path / "digests.json").digest(weights)
    assert after != before
    weights.write_bytes(b"\x02" * 64)  # same size, new mtime
    assert DigestMemo(tmp_path / "digests.json").digest(weights) not in {before, after}


def test_a_damaged_or_hostile_memo_is_ignored(tmp_path: Path, entry: Path) -> None:
    weights = entry / "openvino/m_openvino_model/m.bin"
    truth = DigestMemo(None).digest(weights)
    for content in (b"[1, 2]", b"{not json", b"\xff\xfe", b'{"x": 1}'):
        (tmp_path / "digests.json").write_bytes(content)
        assert DigestMemo(tmp_path / "digests.json").digest(weights) == truth
    (tmp_path / "digests.json").unlink()
    (tmp_path / "digests.json").mkdir()
    memo = DigestMemo(tmp_path / "digests.json")
    assert memo.digest(weights) == truth
    memo.save()  # cannot replace a folder: best effort, no error


def test_read_json_takes_only_a_small_regular_file(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "good.json", {"a": 1})
    assert read_json(tmp_path / "good.json") == {"a": 1}
    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "fifo.json")  # never opened for a blocking read: no hang
    (tmp_path / "link.json").symlink_to(tmp_path / "good.json")
    (tmp_path / "big.json").write_text("[" + "0," * 600_000 + "0]")
    (tmp_path / "bad.json").write_text("{")
    refused = {
        "dir.json": "not a regular file",
        "fifo.json": "not a regular file",
        "link.json": "not a regular file",
        "big.json": "too large",
        "bad.json": "not valid",
    }
    for name, message in refused.items():
        with pytest.raises(EntryMismatch, match=message):
            read_json(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "absent.json")


def test_recorded_digests_catch_any_change(tmp_path: Path, entry: Path) -> None:
    memo = DigestMemo(None)
    files = digest_files(entry, entry / "openvino", memo)
    assert sorted(files) == ["openvino/m_openvino_model/m.bin", "openvino/m_openvino_model/m.xml"]
    check_files(entry, files, memo)
    (entry / "openvino/m_openvino_model/m.xml").write_text("<other/>")
    with pytest.raises(EntryMismatch, match=r"m\.xml changed"):
        check_files(entry, files, memo)
    with pytest.raises(EntryMismatch, match="no digests"):
        check_files(entry, {}, memo)
    with pytest.raises(EntryMismatch, match="leaves"):
        check_files(entry, {"../other/evil.xml": "0" * 64}, memo)


def test_listing_shows_links_without_following_them(entry: Path) -> None:
    folder = entry / "openvino"
    (folder / "m_openvino_model" / "extra").symlink_to(entry.parent / "other", target_is_directory=True)
    assert sorted(listing(entry, folder)) == [
        "openvino/m_openvino_model/extra",
        "openvino/m_openvino_model/m.bin",
        "openvino/m_openvino_model/m.xml",
    ]


def test_removing_an_entry_never_follows_a_planted_link(tmp_path: Path, entry: Path) -> None:
    planted = entry.parent / "planted"
    planted.symlink_to(entry, target_is_directory=True)
    remove_entry(planted)
    assert not os.path.lexists(planted) and (entry / "openvino/m_openvino_model/m.xml").exists()
    remove_entry(entry)
    assert not entry.exists() and (entry.parent / "other" / "evil.xml").exists()


def test_sweep_removes_only_what_a_killed_run_of_ours_left(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from detect_cli.models import cache_files

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # a process that has ended (its id not reused this soon)
    tag, hour = cache_files._host_tag(), 3600
    made = {
        f".tmp-{tag}-{dead}-abcd1234": (hour, True),  # ours, its process gone, old: left by a kill
        f".tmp-{tag}-{dead}-efgh5678": (60, False),  # ours, process gone, but a minute old: maybe starting
        f".tmp-{tag}-{os.getpid()}-ijkl9012": (hour, False),  # a live run's, however old
        f".tmp-0badc0de-{dead}-mnop3456": (hour, False),  # another machine's (a shared cache): too young to say
        f".tmp-0badc0de-{dead}-qrst7890": (25 * hour, True),  # ... and a day old: gone
        ".tmp-old_name": (25 * hour, True),  # an older attn-detect's (tempfile's 8 characters)
        ".tmp-my notes": (25 * hour, False),  # not a name we make
        ".tmp-": (25 * hour, False),
        "kept.txt": (25 * hour, False),
    }
    now = time.time()
    for name, (age, _) in made.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.bin").write_bytes(b"x")
        os.utime(tmp_path / name, (now - age, now - age))
    (tmp_path / ".tmp-linkabcd").symlink_to(tmp_path / "kept.txt")
    os.utime(tmp_path / ".tmp-linkabcd", (now - 25 * hour, now - 25 * hour), follow_symlinks=False)
    removed = cache_files.sweep(tmp_path, ".tmp-", now=now)
    assert sorted(removed) == sorted([n for n, (_, gone) in made.items() if gone] + [".tmp-linkabcd"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, (_, gone) in made.items() if not gone)
    assert (tmp_path / "kept.txt" / "model.bin").exists()  # the link was unlinked, not followed
    assert cache_files.sweep(tmp_path / "no-such-folder", ".tmp-") == []
