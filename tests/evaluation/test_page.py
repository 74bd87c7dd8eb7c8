"""The page's sections: the tables behind every picture, pictures only where one was written."""

from __future__ import annotations

from pathlib import Path

from detect_cli.evaluation.analysis import analyse, analyse_models
from detect_cli.evaluation.page import SavedPictures, analysis_sections, difference_section
from tests.evaluation.synthetic import NAMES, random_images


def test_every_number_behind_the_pictures_is_in_a_table(tmp_path: Path) -> None:
    analysis = analyse(random_images(0, n_images=12), NAMES, conf=0.3, matrix_conf=0.4, worst=3)
    saved = SavedPictures(
        {"pr_curve": tmp_path / "pr.png", "tide_errors": tmp_path / "t.png"},
        [(s, tmp_path / f"{s.name}.jpg", []) for s in analysis.worst],
    )
    curves, matrix, tide, worst = analysis_sections(analysis, saved, model="demo")
    assert [s.title for s in (curves, matrix, tide, worst)] == [
        "Curves (demo)",
        "Confusion matrix (demo)",
        "Errors by type (TIDE) (demo)",
        "Worst images (demo)",
    ]
    assert [p.path.name for p in curves.pictures] == ["pr.png"]  # no f1 picture was written: none linked
    ap_table, best_table = curves.tables
    assert [r[1] for r in ap_table.rows] == [c.ap for c in analysis.pr.classes] + [analysis.pr.overall.ap]
    assert best_table.rows[-1][0] == "all"
    assert matrix.tables[0].rows[-1][1:] == analysis.matrix.counts[-1].tolist()
    assert "at conf 0.4 and IoU 0.5" in matrix.notes[0]
    assert [r[1] for r in tide.tables[0].rows] == [analysis.tide.counts[k] for k in analysis.tide.counts]
    assert [r[0] for r in worst.tables[0].rows] == [s.name for s in analysis.worst]
    assert len(worst.pictures) == 3


def test_the_difference_section_counts_each_models_own_errors(tmp_path: Path) -> None:
    models = analyse_models(["a", "b"], [random_images(0, 8), random_images(1, 8)], [NAMES, NAMES], conf=0.3)
    (diff,) = models.differences
    section = difference_section(diff, None, [("im000.jpg: 2 only a", tmp_path / "x.jpg")])
    assert section.tables[0].header[1:] == ["a errors", "only a", "b errors", "only b"]
    assert [row[1:] for row in section.tables[0].rows] == [
        [k.a_errors, k.a_only, k.b_errors, k.b_only] for k in diff.kinds
    ]
    assert [p.caption for p in section.pictures] == ["im000.jpg: 2 only a"]
