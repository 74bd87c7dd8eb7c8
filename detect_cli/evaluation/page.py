"""The sections of the evaluation page (`outputs/report.py` writes it): the tables behind every
picture, beside the pictures written for them. Pure: numbers and picture paths in, sections out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detect_cli.evaluation.analysis import Analysis
from detect_cli.evaluation.errors import ERROR_KINDS, KIND_NAMES
from detect_cli.evaluation.worst import ImageScore, ModelDifference
from detect_cli.outputs.report import Picture, Section, Table


@dataclass
class SavedPictures:
    """What was written for one analysis: figure name -> path, and per worst image its picture and
    the attention pictures of its false detections."""

    figures: dict[str, Path] = field(default_factory=dict)
    worst: list[tuple[ImageScore, Path | None, list[tuple[Path, str]]]] = field(default_factory=list)


FIGURE_CAPTIONS = {
    "pr_curve": "precision-recall, per class and overall",
    "f1_curve": "F1 against confidence, best threshold marked",
    "confusion_matrix": "confusion matrix (counts)",
    "confusion_matrix_normalised": "confusion matrix (each row over its total)",
    "tide_errors": "TIDE: dAP per error type",
}


def analysis_sections(analysis: Analysis, saved: SavedPictures, *, model: str = "") -> list[Section]:
    """Curves, confusion matrix, TIDE errors and worst images of one model."""
    about = f" ({model})" if model else ""
    figs = saved.figures

    def pictures(*names: str) -> list[Picture]:
        return [Picture(figs[n], FIGURE_CAPTIONS[n]) for n in names if n in figs]

    best_header = ["class", "best conf", "F1", "precision", "recall"]
    best = [
        [c.name, c.best_conf, c.best_f1, c.best_precision, c.best_recall]
        for c in (*analysis.f1.classes, analysis.f1.overall)
    ]
    ap_rows = [[c.name, c.ap] for c in analysis.pr.classes] + (
        [["all (mAP50)", analysis.pr.overall.ap]] if analysis.pr.overall else []
    )
    matrix = analysis.matrix
    names = [*matrix.names, "background"]
    matrix_rows = [[f"labelled {n}", *row] for n, row in zip(names, matrix.counts.tolist())]
    tide = analysis.tide
    tide_rows = [[KIND_NAMES[k], tide.counts[k], f"{tide.dap[k]:.4f}"] for k in ERROR_KINDS]
    return [
        Section(
            f"Curves{about}",
            [
                Table(["class", "AP50"], ap_rows, "Area under each PR curve"),
                Table(best_header, best, "Best confidence threshold (highest F1)"),
            ],
            pictures("pr_curve", "f1_curve"),
            notes=[
                "IoU 0.5; the PR curves are COCO's interpolated precision at 101 recall points (their "
                "mean is mAP50); F1 counts the detections at or above each confidence."
            ],
        ),
        Section(
            f"Confusion matrix{about}",
            [Table(["", *(f"predicted {n}" for n in names)], matrix_rows)],
            pictures("confusion_matrix", "confusion_matrix_normalised"),
            notes=[
                f"Made at conf {matrix.conf:g} and IoU {matrix.iou:g}: {matrix.matched} matched, "
                f"{matrix.missed} labels missed (background column), {matrix.false_detections} false "
                "detections (background row). Rows are the labels, columns the predictions."
            ],
        ),
        Section(
            f"Errors by type (TIDE){about}",
            [Table(["type", "errors", "dAP"], tide_rows)],
            pictures("tide_errors"),
            notes=[
                f"TIDE's AP50 {tide.ap50:.3f}. dAP: the AP50 gained by fixing that type of error alone "
                f"(foreground IoU {tide.foreground:g}, background {tide.background:g}; Bolya et al., "
                "ECCV 2020)."
            ],
        ),
        worst_section(saved.worst, analysis.conf, model=model),
    ]


def worst_section(
    worst: Sequence[tuple[ImageScore, Path | None, list[tuple[Path, str]]]], conf: float, *, model: str = ""
) -> Section:
    header = ["image", "errors", "not found", "false", *(KIND_NAMES[k] for k in ERROR_KINDS)]
    rows = [
        [s.name, s.errors, s.not_found, s.false_detections, *(s.verdict.count(k) for k in ERROR_KINDS)]
        for s, _, _ in worst
    ]
    pictures = []
    for score, path, attention in worst:
        if path is not None:
            pictures.append(Picture(path, f"{score.name}: {score.not_found} not found, {score.false_detections} false"))
        pictures += [Picture(p, caption) for p, caption in attention]
    note = (
        f"The images with the most errors at conf {conf:g}: labels not found plus false detections "
        "(IoU 0.5). Green thin: true positive; red thick: false detection, with its TIDE type; orange "
        "dashed: label not found."
    )
    if not worst:
        note = f"No image has an error at conf {conf:g}."
    title = f"Worst images{f' ({model})' if model else ''}"
    return Section(title, [Table(header, rows)], pictures, notes=[note])


def difference_section(diff: ModelDifference, figure: Path | None, images: Sequence[tuple[str, Path]]) -> Section:
    """What separates two models: per error type the errors only one of them makes."""
    rows = [[KIND_NAMES[k.kind], k.a_errors, k.a_only, k.b_errors, k.b_only] for k in diff.kinds]
    header = ["type", f"{diff.a} errors", f"only {diff.a}", f"{diff.b} errors", f"only {diff.b}"]
    pictures = [Picture(figure, "errors only one model makes")] if figure is not None else []
    pictures += [Picture(path, caption) for caption, path in images]
    return Section(
        f"{diff.a} vs {diff.b}: errors one makes and the other does not",
        [Table(header, rows)],
        pictures,
        notes=[
            "An error on a label is the same when the other model makes one of that type on the "
            "same label; a background error, when the other has one within IoU 0.5. The images "
            "where the two differ most follow, each model's verdict side by side."
        ],
    )
