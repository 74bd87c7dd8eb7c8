"""FolderWatch: the files in a folder, then each new or replaced one, once it has stopped changing."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import pytest

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.inputs.sources import IDLE, Source
from detect_cli.inputs.watch import FolderWatch, Version
from tests.helpers import jpeg_bytes, write_jpeg


class Consumer:
    """Iterates a watch in a thread (it blocks while waiting), so the test can wait with a deadline."""

    def __init__(self, watch: FolderWatch) -> None:
        self.watch = watch
        self.got: queue.Queue[tuple[float, Source]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for source in self.watch:
            if source is not IDLE:
                self.got.put((time.time(), source))

    def take(self, n: int, timeout: float = 10.0) -> list[tuple[float, Source]]:
        out, deadline = [], time.monotonic() + timeout
        while len(out) < n:
            out.append(self.got.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def nothing_more(self, wait: float = 1.0) -> bool:
        try:
            self.got.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def stop(self) -> None:
        self.watch.stop()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


@pytest.fixture(params=[False, True], ids=["events", "polling"])
def polling(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_what_is_there_then_what_lands(tmp_path: Path, polling: bool) -> None:
    write_jpeg(tmp_path / "b.jpg")
    write_jpeg(tmp_path / "a.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    # Both were still long before the watch began. Without this, on a loaded machine b.jpg (written
    # first) can have settled while a.jpg has not, and is handed on first: right for a watch, not this check.
    for name in ("a.jpg", "b.jpg"):
        past = time.time() - 60
        os.utime(tmp_path / name, (past, past))
    consumer = Consumer(FolderWatch([tmp_path], force_polling=polling))
    try:
        assert [s.name for _, s in consumer.take(2)] == ["a.jpg", "b.jpg"]  # the folder's own order
        time.sleep(0.5)  # watching for sure
        write_jpeg(tmp_path / ".hidden.jpg")  # rsync's temporary names are not inputs
        write_jpeg(tmp_path / "c.jpg")
        ((_, source),) = consumer.take(1)
        assert (source.name, source.ref, source.error) == ("c.jpg", str(tmp_path / "c.jpg"), None)
        assert consumer.nothing_more()
    finally:
        consumer.stop()


def test_a_file_written_slowly_in_chunks_is_handed_on_once_whole(tmp_path: Path) -> None:
    consumer = Consumer(FolderWatch([tmp_path], settle_s=0.3))
    data = jpeg_bytes(480, 640, seed=3)
    try:
        time.sleep(0.5)
        with open(tmp_path / "slow.jpg", "wb") as fh:
            for i in range(5):  # pauses longer than settle_s: only the end marker says it is whole
                fh.write(data[i * len(data) // 5 : (i + 1) * len(data) // 5])
                fh.flush()
                time.sleep(0.6)
        last_write = os.stat(tmp_path / "slow.jpg").st_mtime
        ((when, source),) = consumer.take(1)
        assert source.name == "slow.jpg" and when >= last_write
        assert consumer.nothing_more()
    finally:
        consumer.stop()


def test_a_cut_file_that_stays_cut_is_handed_on_after_a_while(tmp_path: Path) -> None:
    """A truncated JPEG that stops changing is broken, not late: it is read (the reader reports it)."""
    (tmp_path / "cut.jpg").write_bytes(jpeg_bytes()[:300])
    consumer = Consumer(FolderWatch([tmp_path], settle_s=0.2, incomplete_s=1.5))
    try:
        start = time.time()
        ((when, source),) = consumer.take(1)
        assert source.name == "cut.jpg" and when - start >= 1.0
    finally:
        consumer.stop()


def test_a_replaced_file_is_handed_on_again(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a.jpg", seed=1)
    consumer = Consumer(FolderWatch([tmp_path]))
    try:
        consumer.take(1)
        time.sleep(0.5)
        tmp = tmp_path / ".a.jpg.part"
        tmp.write_bytes(jpeg_bytes(seed=2, height=60))
        os.replace(tmp, tmp_path / "a.jpg")  # as rsync and most copiers replace a file
        ((_, source),) = consumer.take(1)
        assert source.name == "a.jpg"
        assert consumer.nothing_more()
    finally:
        consumer.stop()


def test_versions_done_are_left_out_and_changed_ones_are_not(tmp_path: Path) -> None:
    same, changed, _ = (write_jpeg(tmp_path / n) for n in ("same.jpg", "changed.jpg", "new.jpg"))
    info = os.stat(same)
    done = {str(same): {Version(info.st_mtime_ns, info.st_size)}, str(changed): {Version(1, 2)}}
    consumer = Consumer(FolderWatch([tmp_path], done=done))
    try:
        assert sorted(s.name for _, s in consumer.take(2)) == ["changed.jpg", "new.jpg"]
        assert consumer.nothing_more()
    finally:
        consumer.stop()


def test_a_file_deleted_before_it_was_read_is_a_note(tmp_path: Path) -> None:
    gone: list[tuple[str, str]] = []
    consumer = Consumer(FolderWatch([tmp_path], on_gone=lambda p, why: gone.append((p, why))))
    try:
        time.sleep(0.5)
        (tmp_path / "brief.jpg").write_bytes(jpeg_bytes()[:200])  # never whole: it would wait
        time.sleep(0.3)
        os.remove(tmp_path / "brief.jpg")
        assert consumer.nothing_more(1.5)
        assert gone == [(str(tmp_path / "brief.jpg"), "deleted before it was read")]
    finally:
        consumer.stop()


def test_the_error_of_a_file_gone_since_it_was_handed_on_is_no_record(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a.jpg")
    write_jpeg(tmp_path / "b.jpg")
    gone: list[tuple[str, str]] = []
    watch = FolderWatch([tmp_path], on_gone=lambda p, why: gone.append((p, why)))
    sources = iter(watch)
    handed = [next(sources), next(sources)]
    watch.stop()
    os.remove(tmp_path / "a.jpg")
    results = [ImageResult(s.ref, i, error="no such file", name=s.name) for i, s in enumerate(handed)]
    kept = list(watch.records(results))
    assert [r.source for r in kept] == [str(tmp_path / "b.jpg")]  # b's error is its own: it is still there
    assert gone == [(str(tmp_path / "a.jpg"), "deleted before it was read")]
    assert watch.version_for(1) == Version(os.stat(tmp_path / "b.jpg").st_mtime_ns, os.stat(tmp_path / "b.jpg").st_size)


def test_videos_are_skipped_with_a_note_and_sub_folders_follow_recursive(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 10)
    write_jpeg(tmp_path / "sub" / "deep.jpg")
    write_jpeg(tmp_path / "top.jpg")
    skipped: list[str] = []
    consumer = Consumer(FolderWatch([tmp_path], on_skip=lambda p, _why: skipped.append(p)))
    try:
        assert [s.name for _, s in consumer.take(1)] == ["top.jpg"]
        assert consumer.nothing_more(0.8)
        assert skipped == [str(tmp_path / "clip.mp4")]
    finally:
        consumer.stop()
    consumer = Consumer(FolderWatch([tmp_path], recursive=True))
    try:
        assert [s.name for _, s in consumer.take(2)] == ["top.jpg", "sub/deep.jpg"]
        time.sleep(0.5)
        moved = tmp_path.parent / f"{tmp_path.name}-elsewhere"
        write_jpeg(moved / "one.jpg")
        os.rename(moved, tmp_path / "moved")  # a folder moved in: its files send no events of their own
        assert [s.name for _, s in consumer.take(1)] == ["moved/one.jpg"]
    finally:
        consumer.stop()


def test_only_folders_are_watched(tmp_path: Path) -> None:
    image = write_jpeg(tmp_path / "a.jpg")
    with pytest.raises(ConfigError, match="not a folder"):
        FolderWatch([image])


@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_a_watched_folder_that_goes_is_said_and_picked_up_again_when_it_comes_back(
    tmp_path: Path, polling: bool, how: str
) -> None:
    """The watcher was silent for ever after its folder went, even once it came back, and named the
    files under the old path 'deleted before it was read'."""
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    write_jpeg(folder / "a.jpg")
    said: list[str] = []
    gone: list[tuple[str, str]] = []
    consumer = Consumer(
        FolderWatch([folder], force_polling=polling, on_folder=said.append, on_gone=lambda p, w: gone.append((p, w)))
    )
    try:
        assert [s.name for _, s in consumer.take(1)] == ["a.jpg"]
        (folder / "cut.jpg").write_bytes(jpeg_bytes()[:200])  # never whole: still settling when the folder goes
        time.sleep(0.6)
        if how == "deleted":
            shutil.rmtree(folder)
        else:
            folder.rename(tmp_path / "old")
            write_jpeg(tmp_path / "old" / "after.jpg")  # lands under the old path: not ours any more
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
        assert said == [f"--watch: {folder} was deleted or moved away; watching for it to come back"]
        assert consumer.nothing_more(1.0) and gone == []
        folder.mkdir()
        write_jpeg(folder / "b.jpg")
        assert [s.name for _, s in consumer.take(1)] == ["b.jpg"]
        assert said[1:] == [f"--watch: {folder} is back; watching it again"]
        write_jpeg(folder / "c.jpg")  # and events come from it again
        assert [s.name for _, s in consumer.take(1)] == ["c.jpg"]
        assert gone == []
    finally:
        consumer.stop()


def test_a_file_whose_name_is_not_utf8_is_read_and_the_watch_goes_on(tmp_path: Path) -> None:
    """watchfiles cannot name such a file and stops (the run ended with exit 2): it is said, and the
    folder is listed instead, so that file and the ones after it are read."""
    said: list[str] = []
    consumer = Consumer(FolderWatch([tmp_path], on_folder=said.append))
    try:
        time.sleep(0.5)  # watching for sure
        odd = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"c\xfe.jpg"))
        write_jpeg(Path(odd))
        assert [s.ref for _, s in consumer.take(1)] == [odd]
        write_jpeg(tmp_path / "d.jpg")
        assert [s.name for _, s in consumer.take(1)] == ["d.jpg"]
        assert consumer.nothing_more()
    finally:
        consumer.stop()
    assert all("file events stopped" in line for line in said)  # said when watchfiles gave up (if it did)
