"""A cached runtime decision is untrusted input: whatever was changed in it is found, and rebuilt.

One real entry is built for the demo model (an OpenVINO export, verified); each test damages a copy
of it the way a user's disk or an attacker could, and `load_decision` must refuse it (the caller then
rebuilds it). One test goes the whole way: tampered, rebuilt with a note, PyTorch's boxes again.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from detect_cli.demo.scenes import make_scene
from detect_cli.models import runtime
from detect_cli.models.cache_files import DigestMemo, EntryMismatch
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.export import verify
from detect_cli.models.lookup import resolve_model
from detect_cli.models.runtime_cache import CACHE_ENV, load_decision
from tests.conftest import any_speed_gain

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO is a dependency"),
]
OPTIONS = PredictOptions(imgsz=320)
CANDIDATES = ("openvino", "onnx")


@pytest.fixture(scope="module")
def demo():
    return load_detector(resolve_model("demo"), device="cpu")


@pytest.fixture(autouse=True)
def any_gain(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the cache, not speed (an entry rebuilt is timed again)."""
    any_speed_gain(monkeypatch)


@pytest.fixture
def cache(demo_cache: Path) -> Path:
    """A copy of the session's cache with the demo model's verified OpenVINO entry (conftest)."""
    return demo_cache


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "backends").iterdir() if not p.name.startswith(".tmp-")]
    return entry


def _decision(entry: Path) -> dict:
    return json.loads((entry / "decision.json").read_text())


def _rewrite(entry: Path, **changes: object) -> None:
    (entry / "decision.json").write_text(json.dumps({**_decision(entry), **changes}))


def _export(entry: Path) -> Path:
    return entry / _decision(entry)["path"]


def _same_size_other_bytes(entry: Path) -> None:
    weights = next(_export(entry).glob("*.bin"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight changed, nothing else
    weights.write_bytes(bytes(data))


def _other_models_xml(entry: Path) -> None:
    xml = next(_export(entry).glob("*.xml"))
    xml.write_text(xml.read_text().replace('name="', 'name="x', 1))  # another network description


def _metadata_imgsz(entry: Path) -> None:
    meta = _export(entry) / "metadata.yaml"
    data = yaml.safe_load(meta.read_text())
    meta.write_text(yaml.safe_dump({**data, "imgsz": [640, 640]}))


def _path_to_another_entry(entry: Path) -> None:
    other = entry.parent / "0123456789abcdef01234567"
    shutil.copytree(entry, other)
    _rewrite(entry, path=f"../{other.name}/{_decision(entry)['path']}")


def _absolute_path(entry: Path) -> None:
    elsewhere = entry.parent.parent / "elsewhere"
    shutil.copytree(_export(entry), elsewhere)
    _rewrite(entry, path=str(elsewhere))


def _export_folder_is_a_link(entry: Path) -> None:
    folder = _export(entry)
    elsewhere = entry.parent.parent / "elsewhere"
    shutil.move(folder, elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)


def _entry_is_a_link(entry: Path) -> None:
    elsewhere = entry.parent.parent / "elsewhere"
    shutil.move(entry, elsewhere)
    entry.symlink_to(elsewhere, target_is_directory=True)


def _extra_xml(entry: Path) -> None:
    xml = next(_export(entry).glob("*.xml"))
    shutil.copy(xml, xml.with_name("aaa.xml"))  # Ultralytics' wrapper loads the first *.xml it finds


def _decision_is_a_folder(entry: Path) -> None:
    (entry / "decision.json").unlink()
    (entry / "decision.json").mkdir()


TAMPERED: dict[str, tuple[Callable[[Path], None], str]] = {
    "bin-same-size-other-bytes": (_same_size_other_bytes, r"\.bin changed since it was verified"),
    "xml-of-another-model": (_other_models_xml, r"\.xml changed since it was verified"),
    "metadata-imgsz-changed": (_metadata_imgsz, "metadata.yaml changed"),
    "path-into-another-entry": (_path_to_another_entry, "leaves its cache entry"),
    "absolute-path": (_absolute_path, "leaves its cache entry"),
    "export-folder-a-link": (_export_folder_is_a_link, "symbolic link"),
    "entry-a-link": (_entry_is_a_link, "not a folder"),
    "extra-xml-in-the-export": (_extra_xml, "not verified: .*aaa.xml"),
    "decision-a-folder": (_decision_is_a_folder, "not a regular file"),
    "no-facts-of-its-model": (  # an older attn-detect's entry: rebuilt once
        lambda e: _rewrite(e, checked={k: v for k, v in _decision(e)["checked"].items() if k != "model"}),
        "records no facts of the model it was verified against",
    ),
    "decision-cut-mid-write": (lambda e: (e / "decision.json").write_text('{"backend": "open'), "not valid JSON"),
    "decision-from-older-version": (lambda e: _rewrite(e, schema=1), "not one this attn-detect wrote"),
    "digests-removed": (lambda e: _rewrite(e, files={}), "records no digests"),
    "unknown-runtime": (lambda e: _rewrite(e, backend="tensorrt"), "unknown runtime"),
    "unknown-runner": (lambda e: _rewrite(e, runner="eval"), "unknown runner"),
}


@pytest.mark.parametrize("case", list(TAMPERED), ids=list(TAMPERED))
def test_a_tampered_entry_is_refused(cache: Path, case: str) -> None:
    entry = _entry(cache)
    assert load_decision(entry, CANDIDATES, DigestMemo(None)).backend == "openvino"  # intact: believed
    tamper, message = TAMPERED[case]
    tamper(entry)
    with pytest.raises(EntryMismatch, match=message):
        load_decision(entry, CANDIDATES, DigestMemo(cache / "digests.json"))


def test_the_memo_does_not_hide_a_change(cache: Path) -> None:
    """With the digests memoised by a run, new bytes under the old size and mtime are still found."""
    import os

    entry = _entry(cache)
    memo = DigestMemo(cache / "digests.json")
    load_decision(entry, CANDIDATES, memo)
    memo.save()
    weights = next(_export(entry).glob("*.bin"))
    before = os.stat(weights)
    _same_size_other_bytes(entry)
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(EntryMismatch, match="changed"):
        load_decision(entry, CANDIDATES, DigestMemo(cache / "digests.json"))


def test_a_tampered_entry_is_rebuilt_with_a_note_and_gives_pytorchs_boxes(demo, cache: Path) -> None:
    _same_size_other_bytes(_entry(cache))
    chosen, choice = runtime.choose_backend(demo, "auto", OPTIONS)
    assert choice.backend == "openvino" and not choice.cached  # exported and checked again
    assert any("rebuilding it" in note and ".bin changed" in note for note in choice.notes), choice.notes
    scenes = [make_scene(np.random.default_rng([5, i]))[0] for i in range(4)]
    check = verify(demo, chosen, scenes, PredictOptions(imgsz=320), min_f1=0.99, iou=0.9, margin=0.05)
    assert check.agreement.count_a >= 5 and check.passed, check.as_dict()
    _, again = runtime.choose_backend(demo, "auto", OPTIONS)
    assert again.cached and not again.notes  # the rebuilt entry is believed


@pytest.mark.parametrize("where", ["cache-dir-is-a-file", "backends-is-a-file", "dev-null"])
def test_a_cache_that_cannot_be_used_means_pytorch_with_the_reason(
    demo, tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    if where == "dev-null":
        cache = Path("/dev/null")
    elif where == "cache-dir-is-a-file":
        cache.write_text("mine")
    else:
        cache.mkdir()
        (cache / "backends").write_text("mine")
    monkeypatch.setenv(CACHE_ENV, str(cache))
    chosen, choice = runtime.choose_backend(demo, "auto", OPTIONS)
    assert chosen.ref == demo.ref and choice.backend == "torch" and "runtime cache unusable" in choice.reason
    assert CACHE_ENV in choice.reason
    if where != "dev-null":
        assert (cache.read_text() if cache.is_file() else (cache / "backends").read_text()) == "mine"


def test_a_read_only_cache_still_runs_what_it_holds(demo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing can be written (every write refused as on a read-only mount): the verified entry still runs,
    and a model with no entry yet runs PyTorch, saying why."""
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system", str(cache))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    _, choice = runtime.choose_backend(demo, "auto", OPTIONS)
    assert choice.backend == "openvino" and choice.cached
    _, other = runtime.choose_backend(demo, "auto", PredictOptions(imgsz=256))  # another key: not cached
    assert other.backend == "torch" and "Read-only file system" in other.reason


def test_changed_weights_are_verified_again_never_run_from_the_old_entry(
    demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size, mtime put back, one weight changed: the file is hashed again (its ctime moved), so it
    is loaded and checked anew instead of running the export made from the old bytes."""
    import os
    import struct
    import zipfile

    from detect_cli.core.settings import load_settings
    from detect_cli.models import detector as detector_module
    from detect_cli.models import export
    from detect_cli.models.open import open_model
    from detect_cli.models.openvino_direct import OpenVINODetector

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    weights = tmp_path / "mine.pt"
    shutil.copy(demo.ref.path, weights)
    counts = {"exports": 0, "loads": 0}
    real_export, real_load = export.export_model, detector_module.load_detector

    def counted(name, real):
        def call(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(export, "export_model", counted("exports", real_export))
    monkeypatch.setattr(detector_module, "load_detector", counted("loads", real_load))
    settings = load_settings(None, {"model": str(weights), "backend": "auto", "device": "cpu"})
    assert isinstance(open_model(settings).detector, OpenVINODetector) and counts == {"exports": 1, "loads": 1}
    cached = open_model(settings).detector
    assert isinstance(cached, OpenVINODetector) and counts == {"exports": 1, "loads": 1}  # not even loaded

    with zipfile.ZipFile(weights) as archive:  # flip one bit of one stored tensor: still a loadable checkpoint
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(weights.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 100] ^= 0x01
    before = os.stat(weights)
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (os.stat(weights).st_size, os.stat(weights).st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    changed = open_model(settings).detector
    assert counts == {"exports": 2, "loads": 2}  # loaded, exported and checked again
    assert isinstance(changed, OpenVINODetector) and changed.ref.path != cached.ref.path
