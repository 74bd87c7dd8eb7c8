"""What a user sees besides the results: shell completion, help at 80 columns, box coordinates
within the image, the compare title, and the index.html that `compare/attention --save` write."""

from __future__ import annotations

import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from detect_cli.cli import completion
from detect_cli.cli.app import app
from tests.conftest import SAMPLES, TEST_IMGSZ

runner = CliRunner()
COMMANDS = ([], ["detect"], ["evaluate"], ["compare"], ["export"], ["attention"])


# ---- shell completion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marks"),
    [
        ("bash", ["complete -o default -F _attn_detect_completion attn-detect", "_ATTN_DETECT_COMPLETE=complete_bash"]),
        ("zsh", ["compdef _attn_detect_completion attn-detect", "_ATTN_DETECT_COMPLETE=complete_zsh"]),
        ("fish", ["complete --command attn-detect", "_ATTN_DETECT_COMPLETE=complete_fish"]),
    ],
)
def test_show_completion_prints_the_script_for_the_shell_asked(monkeypatch, shell, marks) -> None:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")  # Typer's switch: name the shell
    result = runner.invoke(app, ["--show-completion", shell])
    assert result.exit_code == 0, result.output
    assert all(mark in result.stdout for mark in marks), result.stdout


@pytest.mark.parametrize(
    ("shell", "script", "rc_file"),
    [
        ("bash", ".bash_completions/attn-detect.sh", ".bashrc"),
        ("zsh", ".zfunc/_attn-detect", ".zshrc"),
        ("fish", ".config/fish/completions/attn-detect.fish", None),
    ],
)
def test_install_completion_keeps_what_the_rc_file_had(monkeypatch, tmp_path, shell, script, rc_file) -> None:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    if rc_file:
        (tmp_path / rc_file).write_text("alias ll='ls -l'\n")
    result = runner.invoke(app, ["--install-completion", shell])
    assert result.exit_code == 0, result.output
    assert "_ATTN_DETECT_COMPLETE" in (tmp_path / script).read_text()
    if rc_file:
        assert (tmp_path / rc_file).read_text().startswith("alias ll='ls -l'\n")


def complete(words: str, shell: str = "bash") -> list[str]:
    """What the shell's completion function gets back for the command line `words` (cursor at its end)."""
    env = {"_ATTN_DETECT_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": words, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    result = runner.invoke(app, [], env=env)
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line]  # nothing: the shell completes file names


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("attn-detect --model d", ["demo", "demo-rtdetr"]),
        ("attn-detect detect x.jpg -m rtdetr", ["rtdetr-l", "rtdetr-x"]),
        ("attn-detect attention x.jpg --model yolo26", [f"yolo26{s}" for s in "nsmlx"]),
        ("attn-detect compare x.jpg --models demo,rt", ["demo,rtdetr-l", "demo,rtdetr-x"]),
        ("attn-detect x.jpg --model demo --classes s", ["square", "star"]),  # the bare form is detect's
        ("attn-detect x.jpg --model yolo26n --classes zeb", ["zebra"]),
        ("attn-detect x.jpg --classes person,bu", ["person,bus"]),
        ("attn-detect x.jpg --classes traffic", ["traffic\\ light"]),  # bash inserts the value as it is
        ("attn-detect --mo", ["--model"]),
        ("attn-detect ev", ["evaluate"]),
        ("attn-detect x.jpg --model ./", []),  # a path: left to the shell's file completion
    ],
)
def test_completion_offers_models_classes_commands_and_options(words, expected) -> None:
    assert complete(words) == expected


def test_model_completion_lists_model_files_in_the_working_folder(tmp_path: Path) -> None:
    for name in ("mine.pt", "cfg.yaml", "notes.txt", "mine.onnx"):
        (tmp_path / name).write_text("x")
    (tmp_path / "mine_openvino_model").mkdir()
    (tmp_path / "mine_frames").mkdir()
    assert complete("attn-detect x.jpg --model mi") == ["mine.onnx", "mine.pt", "mine_openvino_model"]
    assert "cfg.yaml" in complete("attn-detect x.jpg --model ")


def test_zsh_and_fish_get_the_values_with_their_help() -> None:
    zsh = "\n".join(complete("attn-detect --model demo-", "zsh"))
    assert zsh.startswith("_arguments") and '"demo-rtdetr":"packaged RT-DETR' in zsh
    fish = complete("attn-detect x.jpg --classes traffic", "fish")
    assert fish == ["traffic light\tCOCO class"]


def test_completion_data_matches_the_models_it_names() -> None:
    from detect_cli.demo.scenes import CLASSES
    from detect_cli.models.detector import coco_names
    from detect_cli.models.lookup import ALIASES, PACKAGED
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()  # through our door, as the commands do (its logger then writes to stderr)
    assert set(completion.MODELS) == set(ALIASES) | set(PACKAGED)
    assert list(completion.COCO_NAMES) == list(coco_names().values())
    for model in PACKAGED:
        assert completion.packaged_classes(model) == list(CLASSES)


def test_a_completion_request_imports_no_torch_or_ultralytics() -> None:
    assert _modules_loaded_by_a_completion_request(("torch", "ultralytics", "cv2")) == []


def test_a_completion_request_imports_no_numpy() -> None:
    assert _modules_loaded_by_a_completion_request(("numpy",)) == []


def _modules_loaded_by_a_completion_request(heavy: tuple[str, ...]) -> list[str]:
    code = (
        "import sys\n"
        "from detect_cli.cli.app import app\n"
        "try: app([], prog_name='attn-detect')\n"
        "except SystemExit: pass\n"
        f"print('HEAVY', [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)\n"
    )
    env = {
        **os.environ,
        "_ATTN_DETECT_COMPLETE": "complete_bash",
        "COMP_WORDS": "attn-detect x.jpg --classes per",
        "COMP_CWORD": "3",
    }
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.split() == ["person"], proc.stderr
    return json.loads(proc.stderr.split("HEAVY", 1)[1].strip().replace("'", '"'))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_completes_in_a_real_bash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = runner.invoke(app, ["--show-completion", "bash"]).stdout
    line = "COMP_WORDS=(attn-detect --model d); COMP_CWORD=2; _attn_detect_completion attn-detect; echo ${COMPREPLY[@]}"
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    proc = subprocess.run(
        ["bash", "--norc", "-c", f"{script}\n{line}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert proc.stdout.split() == ["demo", "demo-rtdetr"], proc.stderr


# ---- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0] if c else "attn-detect")
def test_help_at_80_columns_wraps_and_shows_no_bool_metavar(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "<bool>" not in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    if command and command[0] != "export":
        assert "ATTN_DETECT_WEIGHTS_DIR" in text  # whole, not "ATTN_DETECT_WEIG…"
    if not command:  # each command's first sentence in full, not cut with "..."
        flat = " ".join(text.split())
        for cmd in typer.main.get_command(app).commands.values():
            first_sentence = re.split(r"\.\s", cmd.help)[0]  # ends at a full stop and a space or new line
            assert " ".join(first_sentence.split()) in flat


def test_compare_title_stays_on_one_line_at_80_columns() -> None:
    from detect_cli.cli.render import comparison_tables

    settings = {"images": 2, "imgsz": 640, "conf": 0.25, "device": "auto", "threads": 2}
    model = {"name": "demo", "family": "yolo", "images": 2, "detections": 3, "class_counts": {}}
    report = {"settings": settings, "models": [model, {**model, "name": "demo-rtdetr"}], "agreement": []}
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(comparison_tables(report)[0])
    first = console.file.getvalue().splitlines()[0]
    assert first.strip() == "2 images · imgsz 640 · conf 0.25 · device auto · 2 threads"


# ---- boxes within the image ------------------------------------------------------------------


class FakeTensor:
    def __init__(self, values) -> None:
        self.values = np.asarray(values, np.float32)

    def cpu(self) -> FakeTensor:
        return self

    def numpy(self) -> np.ndarray:
        return self.values


def test_ultralytics_boxes_are_clipped_to_the_image_when_converted() -> None:
    from detect_cli.models.detector import _convert

    boxes = SimpleNamespace(
        xyxy=FakeTensor([[-0.7, -3, 50, 40], [10, 20, 130.5, 99.2]]),
        conf=FakeTensor([0.9, 0.8]),
        cls=FakeTensor([0, 1]),
    )
    result = SimpleNamespace(boxes=boxes, orig_shape=(90, 120), speed={})
    detections, _ = _convert(result)
    np.testing.assert_allclose(detections.xyxy, [[0, 0, 50, 40], [10, 20, 120, 90]])


def test_rtdetr_boxes_in_the_json_lie_within_the_image(rtdetr_detector, tmp_path: Path) -> None:
    """A YAML RT-DETR whose decoder predicts full-size boxes: Ultralytics scales them past the edges."""
    import torch

    biases = [mlp.layers[-1].bias for mlp in rtdetr_detector.network().model[-1].dec_bbox_head]
    saved = [b.detach().clone() for b in biases]
    try:
        with torch.no_grad():
            for bias in biases:
                bias[2:] = 20.0  # width and height -> 1 (the whole image) around each centre
        rtdetr_detector.save(tmp_path / "wide-rtdetr.pt")
    finally:
        with torch.no_grad():
            for bias, old in zip(biases, saved):
                bias.copy_(old)
    args = [
        "--model",
        str(tmp_path / "wide-rtdetr.pt"),
        "--imgsz",
        str(TEST_IMGSZ),
        "--conf",
        "0",
        "--max-det",
        "50",
        "--threads",
        "1",
        "--format",
        "json",
    ]
    result = runner.invoke(app, ["detect", str(SAMPLES / "bus.jpg"), *args])
    assert result.exit_code == 0, result.output
    image = json.loads(result.stdout)["images"][0]
    boxes = np.array([d["box"] for d in image["detections"]])
    assert len(boxes) == 50
    assert (boxes >= 0).all()
    assert (boxes[:, [0, 2]] <= image["width"]).all() and (boxes[:, [1, 3]] <= image["height"]).all()
    # each box is the image's width around its centre, so it reached past the left or the right edge
    assert ((boxes[:, 0] == 0) | (boxes[:, 2] == image["width"])).all()


# ---- index.html beside the saved images ------------------------------------------------------


class Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)
        self.urls += [value for name, value in attrs if name in {"src", "href"}]


def linked_files(page: Path) -> list[Path]:
    """The files the page links to; every link relative (no scheme, no absolute path)."""
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    assert "script" not in parser.tags
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
    return [page.parent / unquote(url) for url in parser.urls]


def test_compare_save_writes_an_index_page_that_links_its_images(tmp_path: Path) -> None:
    hostile = tmp_path / 'in & <b "odd"> #1%.jpg'
    shutil.copy(SAMPLES / "bus.jpg", hostile)
    out = tmp_path / "cmp"
    args = ["--imgsz", str(TEST_IMGSZ), "--threads", "1", "--warmup", "0", "--save", str(out)]
    sources = [str(hostile), str(SAMPLES / "zidane.jpg")]
    result = runner.invoke(app, ["compare", *sources, "-m", "demo,yolo26n.yaml", *args])
    assert result.exit_code == 0, result.output
    page = out / "index.html"
    files = linked_files(page)
    assert len(files) == 4 and all(f.is_file() for f in files)  # each grid: the link and the picture
    text = page.read_text(encoding="utf-8")
    assert "<b " not in text and "in &amp; &lt;b &quot;odd&quot;&gt; #1%.jpg" in text
    assert "index.html" in result.stderr


def test_attention_save_writes_an_index_page_that_links_its_overlays(tmp_path: Path) -> None:
    out = tmp_path / "att"
    (out).mkdir()
    (out / "index.html").write_text("the user's own page")
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image")
    shapes = SAMPLES / "shapes" / "shape_00000.jpg"
    args = ["--model", "demo", "--imgsz", "320", "--threads", "1", "--max-det", "2", "--save", str(out)]
    result = runner.invoke(app, ["attention", str(shapes), str(bad), *args])
    assert result.exit_code == 3, result.output  # the broken input is an error record
    assert (out / "index.html").read_text() == "the user's own page"
    page = out / "index_1.html"
    files = linked_files(page)
    assert files and all(f.is_file() for f in files)
    assert {f.name for f in files} >= {"attention.jpg"}
    text = page.read_text(encoding="utf-8")
    assert "broken.jpg" in text and "not an image" in text


def test_the_run_and_compare_tables_name_the_runtime_as_the_registry_does_and_say_the_letterbox() -> None:
    from detect_cli.cli.render import backend_text, comparison_tables, run_table
    from detect_cli.models.detector import Detector
    from detect_cli.models.lookup import ModelRef
    from detect_cli.pipeline.run_summary import RunSummary

    detector = Detector(
        ref=ModelRef("demo", "demo.pt", "yolo", "weights"),
        names={0: "circle"},
        device="cpu",
        half=False,
        end2end_capable=True,
        load_s=0.0,
        backend="openvino",
        precision="int8",
        backend_reason="int8: agreement F1 0.985, 1.6x fp32 here",
    )
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(run_table(RunSummary(), "demo", backend_text(detector), 320, detector.letterbox_ran("auto")))
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in console.file.getvalue().splitlines()[2:-1]
    }
    assert rows["runtime"] == "OpenVINO INT8 (agreement F1 0.985, 1.6x fp32 here)"
    assert rows["letterbox"] == "rect"
    model = {"name": "demo", "runtime_display": "OpenVINO INT8", "letterbox": "rect", "class_counts": {}}
    report = {"settings": {}, "models": [model, {**model, "name": "b", "runtime_display": "PyTorch"}], "agreement": []}
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(comparison_tables(report)[0])
    text = console.file.getvalue()
    assert re.search(r"runtime\s+│\s+OpenVINO INT8\s+│\s+PyTorch", text) and re.search(r"letterbox\s+│\s+rect", text)
