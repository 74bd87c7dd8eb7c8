"""--help in groups: every option of every command under a named panel, in one order."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.cli.options import PANELS

SECTION = re.compile(r"^([A-Z][A-Za-z ]+):$", re.M)


def _help(*command: str) -> str:
    done = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert done.exit_code == 0, done.output
    return done.output


def test_detect_help_is_in_the_groups_a_user_scans() -> None:
    sections = SECTION.findall(_help("detect"))
    assert sections == ["Arguments", *PANELS, "Options"]


def test_every_detect_option_has_a_group_but_help() -> None:
    text = _help("detect")
    general = text[text.index("\nOptions:\n") :].split("\n\n")[0]
    assert re.findall(r"^\s+(-\S+)", general, re.M) == ["-h,"]  # only --help is left ungrouped


@pytest.mark.parametrize("command", ["evaluate", "compare", "attention", "export"])
def test_other_commands_use_the_same_groups_in_the_same_order(command: str) -> None:
    sections = [s for s in SECTION.findall(_help(command)) if s not in {"Arguments", "Options"}]
    assert sections and sections == [p for p in PANELS if p in sections]


def test_help_loads_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from detect_cli.cli.app import app; "
        "CliRunner().invoke(app, ['detect', '--help']); "
        "print(sorted(m for m in ('numpy', 'torch', 'ultralytics', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _config(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_every_flag_can_come_from_the_config(tmp_path) -> None:
    """A command option in the config (not a model setting) is the default of its flag: refused as the flag is."""
    image = str(tmp_path / "a.jpg")
    done = CliRunner().invoke(app, [image, "--config", str(_config(tmp_path, "attention: true\n"))])
    assert done.exit_code == 2 and "--attention writes overlays: it needs --save DIR" in done.stderr
    done = CliRunner().invoke(app, [image, "--config", str(_config(tmp_path, "engine: ray\ntrack: true\n"))])
    assert done.exit_code == 2 and "--track runs locally only" in done.stderr


def test_a_flag_given_beats_the_config(tmp_path) -> None:
    config = _config(tmp_path, "engine: ray\ntrack: true\n")
    done = CliRunner().invoke(
        app, [str(tmp_path / "a.jpg"), "--config", str(config), "--engine", "local", "--zone", "x"]
    )
    assert done.exit_code == 2 and "--track runs locally only" not in done.stderr and "--zone" in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [("track: maybe\n", "bad value for 'track'"), ("engine: cloud\n", "bad value for 'engine'")],
)
def test_a_bad_command_option_in_the_config_names_the_key_and_file(tmp_path, text: str, message: str) -> None:
    config = _config(tmp_path, text)
    done = CliRunner().invoke(app, [str(tmp_path / "a.jpg"), "--config", str(config)])
    assert done.exit_code == 2 and message in done.stderr and str(config) in done.stderr


@pytest.mark.slow
def test_the_config_chooses_the_format_and_a_flag_overrides_it(tmp_path) -> None:
    from tests.conftest import SAMPLES

    image = str(SAMPLES / "shapes" / "shape_00003.jpg")
    config = str(_config(tmp_path, "format: jsonl\nmodel: demo\nquiet: true\n"))
    as_jsonl = CliRunner().invoke(app, [image, "--config", config])
    assert as_jsonl.exit_code == 0 and as_jsonl.stdout.startswith('{"index":0') and as_jsonl.stderr == ""
    as_csv = CliRunner().invoke(app, [image, "--config", config, "--format", "csv"])
    assert as_csv.exit_code == 0 and as_csv.stdout.startswith("index,source,")
