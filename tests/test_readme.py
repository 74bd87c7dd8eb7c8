"""The README's accuracy figures are what `attn-detect evaluate` prints for the command shown next to them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from tests.conftest import REPO

BLOCK = re.compile(r"<!-- evaluate: (?P<model>\S+) -->\n```bash\n(?P<command>.+?)\n```\n```text\n(?P<row>.+?)\n```")
EXAMPLES = BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))


def numbers(row: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", row)


def test_the_readme_shows_both_demo_models() -> None:
    assert [model for model, _, _ in EXAMPLES] == ["demo", "demo-rtdetr"]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "command", "row"), EXAMPLES, ids=[m for m, _, _ in EXAMPLES])
def test_evaluate_prints_the_readme_figures(model: str, command: str, row: str, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # the command's paths are relative to the repository, as in the README
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)  # the defaults a user gets
    monkeypatch.setenv("COLUMNS", "200")
    args = shlex.split(command)
    assert args[:2] == ["attn-detect", "evaluate"] and f"--model {model}" in command
    result = CliRunner().invoke(app, args[1:])
    assert result.exit_code == 0, result.stderr
    printed = next(line for line in result.stdout.splitlines() if line.strip().startswith("│ all"))
    assert numbers(printed) == numbers(row)


PYTHON = re.compile(r"<!-- python-example -->\n```python\n(?P<code>.+?)\n```\n<!-- /python-example -->", re.S)


def test_the_package_face_is_lazy_and_complete() -> None:
    import subprocess
    import sys

    code = (
        "import sys, detect_cli as ad; assert 'torch' not in sys.modules and 'numpy' not in sys.modules; "
        "[getattr(ad, n) for n in ad.__all__]; print(len(ad.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 10


@pytest.mark.slow
def test_the_readme_python_example_runs(monkeypatch, capsys) -> None:
    """The README's Python section, run as written: every name it uses is the package's own."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ATTN_DETECT_BACKEND", "torch")  # the API, not the runtime choice (tests elsewhere)
    (code,) = PYTHON.findall((REPO / "README.md").read_text(encoding="utf-8"))
    exec(compile(code, "README.md:python-example", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "24 images, " + printed[0].split(", ")[1] and int(printed[0].split(", ")[1].split()[0]) > 24
    assert printed[1].startswith("mAP50 ") and float(printed[1].split()[1]) > 0.9
    assert printed[2].startswith("OK 24 records")
    assert Path(printed[3].split()[0]).match("sample_images/shapes/shape_00000.jpg")


SNIPPET = re.compile(
    r"<!-- python-(?P<name>seed|more) -->\n```python\n(?P<code>.+?)\n```\n```text\n(?P<out>.+?)\n```\n", re.S
)
SNIPPETS = {name: (code, out) for name, code, out in SNIPPET.findall((REPO / "README.md").read_text(encoding="utf-8"))}


def test_the_python_section_starts_with_the_seeds_three_lines() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python") :]
    assert section.index("<!-- python-seed -->") < section.index("```")
    code = SNIPPETS["seed"][0]
    assert [line for line in code.splitlines() if line.strip()][1:] == [
        'model = detect_cli.Model("demo-rtdetr")',
        'results = model("sample_images/shapes/shape_00003.jpg")',
        'print(f"Detected {len(results[0].boxes)} objects using attention-based detection.")',
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seed", "more"])
def test_the_readme_python_snippets_print_what_the_readme_shows(name: str, monkeypatch, capsys) -> None:
    """Run as written, at the defaults a user gets, from the repository (the paths are relative to it)."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("ATTN_DETECT_BACKEND", raising=False)
    code, shown = SNIPPETS[name]
    exec(compile(code, f"README.md:python-{name}", "exec"), {})
    assert capsys.readouterr().out.strip() == shown.strip()
