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
