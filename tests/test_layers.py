"""The package's layers: imports point inward only, and no module imports itself round a circle.

Read from the source (every import, also inside functions and under TYPE_CHECKING), so a lazy import
cannot hide an outward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detect_cli"
# Inner to outer. A module may import its own layer and the layers before it.
LAYERS = ("core", "inputs", "models", "outputs", "pipeline", "evaluation", "attention", "tasks", "api", "cli")
OUTSIDE = {"demo": 0}  # the scene generators and demo weights: used by models (export checks), import only core


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("detect_cli"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("detect_cli"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # detect_cli itself, __main__: the package's face, above every layer
    top = parts[1]
    return LAYERS.index(top) if top in LAYERS else OUTSIDE.get(top)


def test_every_subpackage_is_a_known_layer() -> None:
    tops = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops <= set(LAYERS) | set(OUTSIDE), tops - set(LAYERS) - set(OUTSIDE)


def test_imports_point_inward() -> None:
    outward = []
    for module, targets in _graph().items():
        here = _layer(module)
        if here is None:
            continue
        outward += [f"{module} -> {t}" for t in targets if (_layer(t) or 0) > here]
    assert not outward, "\n".join(sorted(outward))


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    # a package's __init__ importing its own modules is no cycle of substance, but ours import nothing
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_short_or_say_why(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if lines > 300:
        docstring = (ast.get_docstring(ast.parse(text)) or "").lower()
        assert "long because" in docstring, f"{path.name}: {lines} lines and no 'Long because' in its docstring"


# Modules tested from another test file, and why they have none of their own. Every other module
# `detect_cli/<layer>/<name>.py` has `tests/<layer>/test_<name>.py`.
COVERED_BY = {
    "api/explanations.py": ("tests/api/test_model.py", "what Model.explain returns, judged where it is called"),
    "attention/drise.py": ("tests/attention/test_metrics.py", "D-RISE is scored beside the other maps"),
    "attention/faithfulness.py": ("tests/attention/test_metrics.py", "deletion/insertion feed the metric table"),
    "attention/gradients.py": ("tests/attention/test_targeted.py", "its maps are judged by where they point"),
    "attention/records.py": ("tests/cli/test_attention_cli.py", "the layout is what the command writes"),
    "attention/run.py": ("tests/attention/test_targeted.py", "explain_image is the subject of those tests"),
    "attention/sliced.py": ("tests/pipeline/test_slicing.py", "maps from tiles are tested with the tiling"),
    "cli/app.py": ("tests/cli/test_detect.py", "the app is what every CLI test invokes"),
    "cli/commands/attention.py": ("tests/cli/test_attention_cli.py", "command tests are named after the command"),
    "cli/commands/compare.py": ("tests/cli/test_compare_cli.py", "command tests are named after the command"),
    "cli/commands/detect.py": ("tests/cli/test_detect.py", "command tests are named after the command"),
    "cli/commands/evaluate.py": ("tests/cli/test_evaluate_cli.py", "command tests are named after the command"),
    "cli/commands/export.py": ("tests/cli/test_export_cli.py", "command tests are named after the command"),
    "cli/common.py": ("tests/cli/test_config_everywhere.py", "the steps every command shares"),
    "cli/completion.py": ("tests/cli/test_looks.py", "completion is part of how the CLI looks"),
    "cli/console.py": ("tests/cli/test_output_everywhere.py", "stdout/stderr and exit codes of every command"),
    "cli/detect_view.py": ("tests/cli/test_detect.py", "how a detect run looks is what its tests read"),
    "cli/destination.py": ("tests/cli/test_output_everywhere.py", "one rule for --format/--out everywhere"),
    "cli/progress.py": ("tests/inputs/test_video.py", "the bar's totals are checked against frames read"),
    "cli/render.py": ("tests/cli/test_looks.py", "tables are judged as printed"),
    "core/errors.py": ("tests/pipeline/test_failures.py", "errors are raised and worded by every layer"),
    "demo/generate.py": ("tests/demo/test_scenes.py", "the generator's scenes are what is tested"),
    "demo/large_scenes.py": ("tests/demo/test_scenes.py", "a kind of scene"),
    "demo/train.py": ("tests/demo/test_rtdetr_recipe.py", "training is not run in tests; the recipe's parts are"),
    "demo/train_rtdetr.py": ("tests/demo/test_rtdetr_recipe.py", "the recipe's parts, without training"),
    "evaluation/labels.py": ("tests/evaluation/test_metrics.py", "labels are read where they are scored"),
    "evaluation/predictions.py": ("tests/evaluation/test_metrics.py", "a plain value type"),
    "inputs/downloads.py": ("tests/inputs/test_images.py", "URLs are read as images are (a local server)"),
    "models/digest.py": ("tests/tasks/test_resume.py", "the digest ties a resumed run to its weights"),
    "models/runtime_request.py": ("tests/models/test_runtime.py", "the request every step of the choice takes"),
    "models/runtimes/base.py": ("tests/models/test_runtimes.py", "every runtime answers the same questions"),
    "models/runtimes/onnxruntime.py": ("tests/models/test_runtimes.py", "every runtime answers the same questions"),
    "models/runtimes/openvino.py": ("tests/models/test_runtimes.py", "every runtime answers the same questions"),
    "models/runtimes/pytorch.py": ("tests/models/test_runtimes.py", "every runtime answers the same questions"),
    "models/ultralytics_env.py": ("tests/models/test_runtime.py", "threads and loading rules of the runtime"),
    "outputs/formats.py": ("tests/outputs/test_sinks.py", "every format is written through its registry"),
    "outputs/mot.py": ("tests/pipeline/test_tracking.py", "MOT rows are what the tracker is scored on"),
    "pipeline/ray/actor.py": ("tests/pipeline/test_ray.py", "one file for Ray: cluster, actor and driver"),
    "pipeline/ray/cluster.py": ("tests/pipeline/test_ray.py", "one file for Ray: cluster, actor and driver"),
    "pipeline/ray/driver.py": ("tests/pipeline/test_ray.py", "one file for Ray: cluster, actor and driver"),
    "pipeline/run_summary.py": ("tests/outputs/test_records.py", "the summary is checked against the records"),
    "pipeline/tile_merge.py": ("tests/pipeline/test_slicing.py", "merging is the second half of slicing"),
    "pipeline/video_stats.py": ("tests/pipeline/test_tracking.py", "per-video counts of tracked objects"),
    "tasks/attention.py": ("tests/cli/test_attention_cli.py", "the task through its command"),
    "tasks/detect.py": ("tests/cli/test_detect.py", "the task through its command"),
    "tasks/detect_run.py": ("tests/cli/test_detect.py", "every detect command runs its plan through it"),
    "tasks/output_plan.py": ("tests/tasks/test_plan.py", "where results go is part of the plan"),
    "tasks/track_evaluation.py": ("tests/cli/test_evaluate_cli.py", "evaluate --tracks runs it (and tests/api)"),
    "tasks/evaluate.py": ("tests/cli/test_evaluate_cli.py", "the task through its command"),
    "tasks/export.py": ("tests/cli/test_export_cli.py", "the task through its command"),
}


def _own_test(module: Path) -> Path:
    rel = module.relative_to(PACKAGE)
    return PACKAGE.parent / "tests" / rel.parent / f"test_{rel.stem}.py"


def test_tests_mirror_the_package() -> None:
    """A newcomer finds a module's tests beside its place in the tree, or here, with the reason."""
    missing = []
    for module in sorted(PACKAGE.rglob("*.py")):
        name = module.relative_to(PACKAGE).as_posix()
        if module.name in {"__init__.py", "__main__.py"} or _own_test(module).exists():
            continue
        covered = COVERED_BY.get(name)
        if covered is None or not (PACKAGE.parent / covered[0]).exists():
            missing.append(name)
    assert not missing, "no test file of their own, and none named in COVERED_BY: " + ", ".join(missing)
    stale = [name for name in COVERED_BY if _own_test(PACKAGE / name).exists() or not (PACKAGE / name).exists()]
    assert not stale, f"COVERED_BY entries that have their own test file now, or no module: {stale}"


def test_the_cli_holds_no_rule_of_its_own() -> None:
    """Cross-option rules are raised in the library, so a Python caller is refused as the command line
    is: cli/ raises ConfigError only where a flag's own text is wrong (--json against --format)."""
    raised = {
        path.relative_to(PACKAGE).as_posix(): path.read_text(encoding="utf-8").count("ConfigError(")
        for path in (PACKAGE / "cli").rglob("*.py")
    }
    assert {name: n for name, n in raised.items() if n} == {"cli/destination.py": 1}
