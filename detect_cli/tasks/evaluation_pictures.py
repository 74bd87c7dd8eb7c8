"""`evaluate --save DIR` and `compare --labels --save DIR`: the analysis's pictures and its page.

Figures go in DIR (`pr_curve.png`, `f1_curve.png`, `confusion_matrix.png`,
`confusion_matrix_normalised.png`, `tide_errors.png`), the worst images under DIR/worst/ with the
inputs' relative names, and with `--attention` one picture per false detection of theirs, over the
map of where the model looked. Every file goes through `ImageSaver`, so nothing the folder held is
replaced; a picture that cannot be made (an input gone since, a disk full) is a warning and the
rest are still written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from detect_cli.core.errors import AttnDetectError
from detect_cli.core.matching import match
from detect_cli.evaluation import figures
from detect_cli.evaluation.analysis import Analysis, ModelsAnalysis
from detect_cli.evaluation.error_images import attention_panel, draw_verdict
from detect_cli.evaluation.errors import TRUE_POSITIVE
from detect_cli.evaluation.page import SavedPictures, difference_section
from detect_cli.evaluation.worst import ImageScore, ModelDifference
from detect_cli.inputs.images import ReadOptions, read_image
from detect_cli.inputs.sources import Source, is_url
from detect_cli.outputs.annotate import side_by_side
from detect_cli.outputs.image_saver import ImageSaver, SaveRefused
from detect_cli.outputs.report import Section, Table, write_page

if TYPE_CHECKING:
    from detect_cli.attention.run import ImageAttention
    from detect_cli.evaluation.metrics import EvalReport
    from detect_cli.models.detector import Detector, PredictOptions

Explain = Callable[[np.ndarray], "ImageAttention"]
SAME_BOX_IOU = 0.9  # the attention pass runs the same model on the same image: its boxes are these


def attention_explainer(detector: Detector, options: PredictOptions) -> Explain:
    """Attention maps of the model's detections on one image (the `attention` method)."""
    from detect_cli.attention.run import explain_image

    return lambda image: explain_image(detector, image, options)


@dataclass
class PictureWriter:
    """Writes pictures under `folder`; `warnings` collects (input, what was not written)."""

    folder: Path
    read_options: ReadOptions = field(default_factory=ReadOptions)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.saver = ImageSaver(self.folder)

    def analysis(
        self,
        analysis: Analysis,
        names: dict[int, str],
        *,
        prefix: str = "",
        title: str = "",
        explain: Explain | None = None,
    ) -> SavedPictures:
        """The figures and worst images of one analysis (file names start with `prefix`)."""
        saved = SavedPictures()
        drawn = {
            "pr_curve": lambda: figures.pr_figure(analysis.pr, title),
            "f1_curve": lambda: figures.f1_figure(analysis.f1, title),
            "confusion_matrix": lambda: figures.confusion_figure(analysis.matrix, normalised=False, title=title),
            "confusion_matrix_normalised": lambda: figures.confusion_figure(
                analysis.matrix, normalised=True, title=title
            ),
            "tide_errors": lambda: figures.tide_figure(analysis.tide, title),
        }
        for name, draw in drawn.items():
            path = self._save(f"{prefix}{name}.png", draw, name)
            if path is not None:
                saved.figures[name] = path
        for score in analysis.worst:
            image = self._read(score)
            if image is None:
                saved.worst.append((score, None, []))
                continue
            stem = PurePosixPath(score.name).with_suffix("")
            path = self._save(f"{prefix}worst/{stem}.jpg", lambda: draw_verdict(image, score, names), score.source)
            attention = self._attention(image, score, names, f"{prefix}worst/{stem}", explain) if explain else []
            saved.worst.append((score, path, attention))
        return saved

    def differences(
        self,
        diff: ModelDifference,
        a: Sequence[ImageScore],
        b: Sequence[ImageScore],
        names: tuple[dict[int, str], dict[int, str]],
        n: int,
        prefix: str = "",
    ) -> Section:
        """The section on what separates two models, with the `n` images where they differ most."""
        figure = self._save(f"{prefix}differences.png", lambda: figures.difference_figure(diff), "differences")
        images = []
        for item in diff.images[:n]:
            sa, sb = a[item.a_index], b[item.b_index]
            image = self._read(sa)
            if image is None:
                continue
            stem = PurePosixPath(item.name).with_suffix("")

            def pair(image: np.ndarray = image, sa: ImageScore = sa, sb: ImageScore = sb) -> np.ndarray:
                panels = [
                    draw_verdict(image, sa, names[0], f"{diff.a}: {sa.errors} error(s)"),
                    draw_verdict(image, sb, names[1], f"{diff.b}: {sb.errors} error(s)"),
                ]
                height = max(p.shape[0] for p in panels)
                return side_by_side([np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in panels])

            path = self._save(f"{prefix}differences/{stem}.jpg", pair, item.source)
            if path is not None:
                images.append((f"{item.name}: {item.a_only} only {diff.a}, {item.b_only} only {diff.b}", path))
        return difference_section(diff, figure, images)

    def _attention(
        self, image: np.ndarray, score: ImageScore, names: dict[int, str], stem: str, explain: Explain
    ) -> list[tuple[Path, str]]:
        """One picture per false detection, over the attention map the model made for it."""
        from detect_cli.attention.maps import resize_map

        false = [k for k, kind in enumerate(score.verdict.kind) if kind != TRUE_POSITIVE]
        if not false:
            return []
        picked = score.verdict.order[false]
        try:
            explained = explain(image)
        except (AttnDetectError, RuntimeError, ValueError) as exc:
            self.warnings.append((score.source, f"no attention maps: {str(exc).splitlines()[0]}"))
            return []
        maps = explained.maps.get("attention") or next(iter(explained.maps.values()), [])
        pairs = match(score.detections[picked], explained.detections, SAME_BOX_IOU)
        out = []
        for a, b in zip(pairs.a.tolist(), pairs.b.tolist()):
            i, kind = picked[a], score.verdict.kind[false[a]]
            name = names.get(int(score.detections.class_id[i]), str(score.detections.class_id[i]))
            text = f"{kind}: {name} {score.detections.confidence[i]:.2f} - where the model looked"
            heat = resize_map(maps[b], *image.shape[:2])
            path = self._save(
                f"{stem}_false{a + 1:02d}_{kind}_attention.jpg",
                lambda heat=heat, i=i, text=text: attention_panel(image, heat, score.detections.xyxy[i], text),
                score.source,
            )
            if path is not None:
                out.append((path, f"{score.name}: {text}"))
        return out

    def _read(self, score: ImageScore) -> np.ndarray | None:
        try:
            return read_image(Source(score.source, score.name, is_url(score.source)), self.read_options)
        except (AttnDetectError, OSError) as exc:
            self.warnings.append((score.source, f"worst image not drawn: {exc}"))
            return None

    def _save(self, name: str, draw: Callable[[], np.ndarray], what: str) -> Path | None:
        try:
            return self.saver.save(name, draw())
        except (OSError, SaveRefused) as exc:
            self.warnings.append((what, f"picture not saved: {exc}"))
            return None


def _folder_name(model: str) -> str:
    """A model's name as a folder name (models are named freely: `runs/exp/best.pt`)."""
    return re.sub(r"[^\w.+#-]+", "_", model).strip("._") or "model"


def comparison_sections(
    folder: Path,
    analysis: ModelsAnalysis,
    class_names: Sequence[dict[int, str]],
    *,
    worst: int,
    read_options: ReadOptions | None = None,
) -> tuple[list[Section], list[tuple[str, str]]]:
    """`compare --labels --save`: what separates each pair of models (with the `worst` images where they
    differ most), then each model's curves, matrix, TIDE errors and worst images, under
    DIR/evaluation/; returns the page's sections and what was not written."""
    from detect_cli.evaluation.page import analysis_sections

    writer = PictureWriter(Path(folder), read_options or ReadOptions())
    place = {name: k for k, name in enumerate(analysis.names)}
    sections = []
    for diff in analysis.differences:
        i, j = place[diff.a], place[diff.b]
        prefix = f"evaluation/{_folder_name(diff.a)}_vs_{_folder_name(diff.b)}/"
        sections.append(
            writer.differences(
                diff,
                analysis.analyses[i].scores,
                analysis.analyses[j].scores,
                (class_names[i], class_names[j]),
                worst,
                prefix,
            )
        )
    for name, one, names in zip(analysis.names, analysis.analyses, class_names):
        saved = writer.analysis(one, names, prefix=f"evaluation/{_folder_name(name)}/", title=name)
        sections += analysis_sections(one, saved, model=name)
    return sections, writer.warnings


def evaluation_page(folder: Path, report: EvalReport, sections: list[Section], settings: dict[str, Any]) -> Path:
    """`evaluate --save`: the scores table, then every section of the analysis."""
    rows = [
        [r["class"], r["instances"], r["detections"], r["precision"], r["recall"], r["map50"], r["map50_95"]]
        for r in report.rows()
    ]
    header = ["class", "instances", "detections", "precision", "recall", "mAP50", "mAP50-95"]
    about = ", ".join(f"{k} {v}" for k, v in settings.items() if v is not None)
    scores = Section(
        "Scores",
        [Table(header, rows)],
        notes=[f"{about}; {report.images} labelled images, precision and recall at conf, IoU 0.5"],
    )
    return write_page(folder, f"attn-detect evaluate: {settings.get('model', '')}", [scores, *sections])


def save_evaluation(
    folder: Path,
    report: EvalReport,
    analysis: Analysis,
    names: dict[int, str],
    settings: dict[str, Any],
    *,
    read_options: ReadOptions | None = None,
    explain: Explain | None = None,
) -> tuple[Path, list[tuple[str, str]]]:
    """`evaluate --save`: every picture and the page; returns the page and what was not written.
    OSError when the page itself cannot be written."""
    from detect_cli.evaluation.page import analysis_sections

    writer = PictureWriter(Path(folder), read_options or ReadOptions())
    saved = writer.analysis(analysis, names, explain=explain)
    return evaluation_page(Path(folder), report, analysis_sections(analysis, saved), settings), writer.warnings
