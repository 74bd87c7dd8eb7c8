"""Each command's cross-option rules live in the library: a Python caller is refused with the message
and exit code the CLI prints (the CLI calls these same functions; tests/cli pin its side)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detect_cli.core.errors import AttnDetectError, ExitCode


def _refused(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AttnDetectError) as refused:
        call()
    assert str(refused.value).startswith(message), str(refused.value)
    assert refused.value.exit_code == ExitCode.USAGE


def test_evaluate_needs_one_ground_truth_and_draws_only_box_evaluations(tmp_path: Path) -> None:
    from detect_cli.tasks.evaluate import check_evaluation

    both = "give --labels (boxes: mAP) or --tracks (MOT ground truth: IDF1, MOTA), one of them"
    _refused(lambda: check_evaluation(None, None, None, False), both)
    _refused(lambda: check_evaluation("l.json", "gt.txt", None, False), both)
    _refused(lambda: check_evaluation(None, "gt.txt", tmp_path, False), "--save draws box evaluations")
    _refused(lambda: check_evaluation("l.json", None, None, True), "--attention draws on the worst images of --save")
    (tmp_path / "file").write_text("mine")
    _refused(lambda: check_evaluation("l.json", None, tmp_path / "file", False), f"--save {tmp_path / 'file'}: exists")
    check_evaluation("l.json", None, tmp_path / "new", True)  # does not raise


def test_compare_needs_two_models_and_slices_the_ones_named() -> None:
    from detect_cli.tasks.compare import check_models, sliced_positions

    _refused(lambda: check_models(["demo"]), "compare needs at least two models")
    assert sliced_positions(["demo", "demo-rtdetr"], ["2"], True) == {1}
    assert sliced_positions(["demo", "demo-rtdetr"], ["demo"], True) == {0}
    assert sliced_positions(["demo", "demo-rtdetr"], None, True) == {0, 1}
    assert sliced_positions(["demo", "demo-rtdetr"], ["3"], False) == set()
    _refused(lambda: sliced_positions(["demo", "demo-rtdetr"], ["3"], True), "--slice-for 3: not one of the models")


def test_attention_refuses_unknown_methods_and_sliced_checks() -> None:
    from detect_cli.attention.run import check_method
    from detect_cli.tasks.attention import check_slicing

    _refused(lambda: check_method("saliency"), "--method saliency: choose one of attention, gradcam")
    _refused(lambda: check_method("attention", "middle"), "--map middle: choose one of decoder, encoder")
    _refused(lambda: check_slicing(True, "gradcam", False), "--slice explains with --method attention only")
    _refused(lambda: check_slicing(True, "attention", True), "--slice explains with --method attention only")
    check_slicing(True, "attention", False)  # does not raise


def test_export_calibration_images_go_with_int8(tmp_path: Path) -> None:
    from detect_cli.tasks.export import calibration_paths_for

    _refused(lambda: calibration_paths_for(False, str(tmp_path), None), f"--calibration {tmp_path} is for --int8")
    _refused(lambda: calibration_paths_for(False, None, "d.yaml"), "--data d.yaml is for --int8")
    _refused(lambda: calibration_paths_for(True, str(tmp_path), "d.yaml"), "--calibration and --data both name")
    _refused(lambda: calibration_paths_for(True, str(tmp_path / "no"), None), f"--calibration {tmp_path / 'no'}: no")
    assert calibration_paths_for(True, None, None) == (None, "")
    assert calibration_paths_for(False, None, None) == (None, "")


def test_heatmap_classes_choose_heatmap_maps() -> None:
    from detect_cli.tasks.plan import spatial_flags

    _refused(lambda: spatial_flags(None, None, "person"), "--heatmap-classes person: chooses --heatmap's maps")
    assert spatial_flags(None, None, "person", heatmap=Path("maps"))["heatmap_classes"] == "person"


def test_an_output_folder_must_not_be_a_file(tmp_path: Path) -> None:
    from detect_cli.outputs.guards import check_folder

    (tmp_path / "f").write_text("mine")
    _refused(lambda: check_folder(tmp_path / "f", "--dir", "pass a folder"), f"--dir {tmp_path / 'f'}: exists")
    check_folder(tmp_path / "new")  # does not raise
    assert (tmp_path / "f").read_text() == "mine"


def test_an_export_that_does_not_match_its_model_fails_the_run() -> None:
    from detect_cli.tasks.export import verdict

    checked = {"path": "m.onnx", "verification": {"enforced": True, "passed": True}}
    assert verdict(checked) == ([], False)
    assert verdict({**checked, "verification": {"enforced": True, "passed": False}})[1] is True
    shown, failed = verdict({**checked, "verification": {"enforced": False, "passed": False}})
    assert not failed and "not enforced" in shown[0]
    gate = {"path": None, "verification": None, "int8": {"int8": {"failures": ["mAP50 fell 0.2"]}}}
    (said,), failed = verdict(gate)
    assert failed and said.startswith("the INT8 model did not pass its accuracy gate (mAP50 fell 0.2)")
