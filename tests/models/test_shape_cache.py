"""The entry's folder of compiled shapes: OpenVINO reads only files listed there with their digests."""

from __future__ import annotations

import os
from pathlib import Path

from detect_cli.models.cache_files import DigestMemo
from detect_cli.models.shape_cache import LISTING, checked, record


def _folder_with_two_blobs(tmp_path: Path) -> Path:
    folder = tmp_path / "shapes"
    folder.mkdir()
    (folder / "111.blob").write_bytes(b"compiled 320x256")
    (folder / "222.blob").write_bytes(b"compiled 192x320")
    record(folder, DigestMemo(None))
    return folder


def test_listed_files_are_kept(tmp_path: Path) -> None:
    folder = _folder_with_two_blobs(tmp_path)
    assert checked(folder, DigestMemo(None)) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["111.blob", "222.blob", LISTING]


def test_a_changed_an_added_or_a_linked_file_is_removed_before_openvino_reads(tmp_path: Path) -> None:
    folder = _folder_with_two_blobs(tmp_path)
    (folder / "111.blob").write_bytes(b"someone else's network")
    (folder / "333.blob").write_bytes(b"never compiled here")
    outside = tmp_path / "outside.blob"
    outside.write_bytes(b"compiled 192x320")
    os.symlink(outside, folder / "444.blob")
    (folder / "sub").mkdir()
    assert checked(folder, DigestMemo(None)) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["222.blob", LISTING]
    assert outside.exists()  # a link is removed, never what it points at


def test_a_damaged_listing_trusts_nothing(tmp_path: Path) -> None:
    folder = _folder_with_two_blobs(tmp_path)
    (folder / LISTING).write_text("[not, json")
    checked(folder, DigestMemo(None))
    assert [p.name for p in folder.iterdir()] == [LISTING]


def test_a_folder_that_cannot_be_used_means_compiling_in_memory(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    assert checked(tmp_path / "a-file", DigestMemo(None)) is None
    os.symlink(tmp_path, tmp_path / "link")
    assert checked(tmp_path / "link", DigestMemo(None)) is None


def test_a_new_folder_is_made_and_recorded(tmp_path: Path) -> None:
    folder = checked(tmp_path / "entry" / "shapes", DigestMemo(None))
    assert folder is not None and folder.is_dir()
    (folder / "555.blob").write_bytes(b"new shape")
    record(folder, DigestMemo(None))
    assert checked(folder, DigestMemo(None)) == folder and (folder / "555.blob").exists()
