"""OutputLock follows the results file's identity: two names of one file (hard links) are one lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.outputs.guards import OutputLock, hold_results_file


def test_a_hard_link_to_a_file_another_run_made_is_refused(tmp_path: Path) -> None:
    """The first run's file did not exist when it started: it is locked once the run makes it."""
    out = tmp_path / "r.jsonl"
    with OutputLock(out):
        out.write_text("")  # the run makes its results file (outputs.formats.open_results)
        hold_results_file(out)
        os.link(out, tmp_path / "again.jsonl")
        with pytest.raises(ConfigError, match="under another name"):
            OutputLock(tmp_path / "again.jsonl").acquire()
        assert not (tmp_path / "again.jsonl.lock").exists()  # a refused lock leaves nothing behind
    with OutputLock(tmp_path / "again.jsonl"):  # released with the first run
        pass


def test_one_run_holding_its_own_file_twice_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("old\n")
    with OutputLock(out) as lock:
        hold_results_file(out)
        lock.hold_file()
        assert out.read_text() == "old\n"  # locking never writes the file


@pytest.mark.parametrize("arg", ["imgs", "imgs/*.jpg"])
def test_out_named_as_an_image_in_the_input_folder_is_refused(tmp_path: Path, arg: str) -> None:
    """`detect imgs --out imgs/a.jpg --format jsonl` would read a.jpg and write over it."""
    from detect_cli.outputs.guards import check_apart

    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(b"mine")
    with pytest.raises(ConfigError, match="lies in the input folder"):
        check_apart([str(tmp_path / arg)], tmp_path / "imgs" / "a.jpg", None, recursive=False)
    check_apart([str(tmp_path / arg)], tmp_path / "imgs" / "r.jsonl", None, recursive=False)  # not an image: fine
    assert (tmp_path / "imgs" / "a.jpg").read_bytes() == b"mine"
