"""detect's cross-option rules, in the library: a Python caller is refused as the command line is."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from detect_cli.core.errors import AttnDetectError, ConfigError, ExitCode
from detect_cli.core.settings import load_settings
from detect_cli.tasks.plan import DetectPlan


@pytest.fixture(scope="module")
def settings():
    return load_settings(None, {"model": "demo"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attention": True}, "--attention writes overlays: it needs --save DIR"),
        ({"attention": True, "save": Path("out"), "ray": True}, "--attention runs locally only"),
        ({"track": True, "ray": True}, "--track runs locally only (a tracker needs the frames in order)"),
        ({"track": True, "attention": True, "save": Path("out")}, "--track and --attention do not go together"),
        ({"count_line": "0,50%,100%,50%", "ray": True}, "--count-line runs locally only"),
        ({"count_line": "0,1,2"}, "--count-line"),
        ({"tracker": "sort"}, "unknown tracker 'sort'"),
        ({"start": 5.0, "end": 2.0}, "--end 2 is not after --start 5"),
        ({"heatmap": Path("maps"), "ray": True}, "--zone and --heatmap run locally only"),
    ],
)
def test_what_does_not_go_together_is_refused_with_the_cli_message(settings, options, message) -> None:
    with pytest.raises(ConfigError) as refused:
        DetectPlan(settings, **options).validate()
    assert str(refused.value).startswith(message)
    assert isinstance(refused.value, AttnDetectError) and refused.value.exit_code == ExitCode.USAGE


def test_save_and_heatmap_must_be_folders(settings, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ConfigError, match=r"--save .*file: exists and is not a folder"):
        DetectPlan(settings, save=tmp_path / "file").validate()
    with pytest.raises(ConfigError, match=r"--heatmap .*file: exists and is not a folder"):
        DetectPlan(settings, heatmap=tmp_path / "file").validate()
    assert (tmp_path / "file").read_text() == "mine"


def test_counting_follows_tracks(settings) -> None:
    assert DetectPlan(settings).tracking is None
    assert DetectPlan(settings, track=True, tracker="bytetrack").tracking == "bytetrack"
    assert DetectPlan(settings, count_line="0,50%,100%,50%").tracking == "botsort"
    zoned = replace(settings, zones=("door=0%,0%,50%,0%,50%,100%,0%,100%",))
    assert DetectPlan(zoned).tracking == "botsort"
    assert DetectPlan(zoned).validate().spatial().zones[0].name == "door"


def test_a_valid_plan_gives_its_video_options(settings) -> None:
    plan = DetectPlan(settings, vid_stride=3, start=1.5, end=4.0).validate()
    video = plan.video()
    assert (video.stride, video.start_s, video.end_s) == (3, 1.5, 4.0)


def test_settings_must_be_settings() -> None:
    with pytest.raises(TypeError, match=r"DetectPlan\(settings\)"):
        DetectPlan("demo").validate()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"out": "shards/"}, "--out shards/: a folder means sharded JSONL written by Ray workers"),
        ({"out": "shards/", "ray": True, "format": "csv"}, "--out shards/: a folder means sharded JSONL"),
        ({"resume": True}, "--resume needs --out FILE (the results to continue)"),
        ({"retry_failed": True}, "--resume needs --out FILE (the results to continue)"),
        ({"resume": True, "out": "r.json"}, "--resume works with JSONL or CSV output, not json"),
        ({"format": "yolo"}, "--format yolo writes a dataset folder"),
        ({"format": "yolo", "out": "ds/", "ray": True}, "--format yolo copies each image into the dataset"),
        ({"save_conf": True}, "--save-conf adds a column to YOLO labels"),
        ({"image_root": "/data"}, "--image-root says where Label Studio or a COCO tool finds the images"),
        ({"out": "r.txt"}, "--out r.txt: cannot tell the format from the extension"),
        ({"format": "table", "out": "r.json"}, "--out r.json: tables are for the terminal"),
        ({"watch": True, "sources": ("nowhere",)}, "--watch nowhere: not a folder"),
        ({"watch": True, "ray": True}, "--watch runs locally (it follows a folder as files land)"),
        ({"watch": True, "resume": True, "out": "r.csv"}, "--watch --resume needs --out FILE.jsonl"),
    ],
)
def test_where_results_go_is_refused_in_the_library_with_the_cli_message(settings, options, message) -> None:
    """The rules `attn-detect detect` used to check itself (--out, --format, --resume, --watch, labels)."""
    with pytest.raises(ConfigError) as refused:
        DetectPlan(settings, **options).validate()
    assert str(refused.value).startswith(message)


def test_the_plan_decides_where_results_go(settings, tmp_path: Path) -> None:
    assert DetectPlan(settings).validate().output.tables_are_results
    to_file = DetectPlan(settings, out=tmp_path / "r.csv").validate().output
    assert (to_file.format, to_file.out_file, to_file.sharded) == ("csv", tmp_path / "r.csv", False)
    shards = DetectPlan(settings, out=f"{tmp_path}/shards/", ray=True).output
    assert (shards.format, shards.sharded) == ("jsonl", True)
    assert not DetectPlan(settings, watch=True, sources=(str(tmp_path),)).validate().counts_inputs
    assert DetectPlan(settings, out=tmp_path / "r.csv").output.table_limit(10, None) == 0


def test_claim_refuses_an_output_that_would_replace_an_input(settings, tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"mine")
    plan = DetectPlan(settings, out=str(image), format="jsonl", sources=(str(image),)).validate()
    with pytest.raises(ConfigError, match="--out"):
        plan.claim()
    assert image.read_bytes() == b"mine"
