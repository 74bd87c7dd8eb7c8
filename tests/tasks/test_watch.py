"""--watch records: each says its file's version; a restarted watcher reads them back."""

from __future__ import annotations

import json
from pathlib import Path

from detect_cli.inputs.watch import FolderWatch, Version
from detect_cli.outputs.formats import open_sink
from detect_cli.tasks.watch import watch_layout, watched_state
from tests.helpers import make_result, write_jpeg


def test_records_carry_the_file_version_and_number_on(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "in" / "a.jpg")
    write_jpeg(tmp_path / "in" / "b.jpg", seed=1)
    watch = FolderWatch([tmp_path / "in"])
    sources = iter(watch)
    handed = [next(sources), next(sources)]
    watch.stop()
    out = tmp_path / "r.jsonl"
    with open(out, "w") as stream:
        sink = open_sink("jsonl", stream, {}, layout=watch_layout(watch, first_index=40))
        for result in watch.records(make_result(i, 1, source=s.ref) for i, s in enumerate(handed)):
            sink.write(result)
        sink.close(None)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == [40, 41]
    a, b = (tmp_path / "in" / "a.jpg").stat(), (tmp_path / "in" / "b.jpg").stat()
    assert records[0]["file"] == {"mtime_ns": a.st_mtime_ns, "size": a.st_size}

    with open(out, "a") as fh:
        fh.write(json.dumps({"index": 7, "source": "/old/record.jpg", "status": "ok"}) + "\n")  # no version
        fh.write('{"index": 50, "source": "/cut')  # a line cut by a crash (resume repairs it first)
    state = watched_state(out)
    assert state.next_index == 42
    assert state.done == {
        str(tmp_path / "in" / "a.jpg"): {Version(a.st_mtime_ns, a.st_size)},
        str(tmp_path / "in" / "b.jpg"): {Version(b.st_mtime_ns, b.st_size)},
        "/old/record.jpg": {None},
    }
    assert watched_state(tmp_path / "missing.jsonl").done == {}
