"""The pictures of an evaluation, drawn with matplotlib (an Ultralytics dependency) on its Agg
canvas: no window, no pyplot state. Each function takes the numbers (`analysis.py`) and gives a
BGR image, for `ImageSaver` to write like any other picture. matplotlib loads on first use.

Every text is drawn as it is (`text.parse_math` off while a figure is made): class names, model
names and titles come from the user, and a `$...$` in one was read as TeX math (a crash inside
mathtext, nothing saved)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

import numpy as np

from detect_cli.evaluation.errors import ERROR_KINDS, KIND_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from detect_cli.evaluation.confusion import ConfusionMatrix
    from detect_cli.evaluation.curves import F1Curves, PRCurves
    from detect_cli.evaluation.tide import TideReport
    from detect_cli.evaluation.worst import ModelDifference

DPI = 100
P = ParamSpec("P")


def _plain_text(draw: Callable[P, np.ndarray]) -> Callable[P, np.ndarray]:
    """`draw` with matplotlib's math parsing off for every text it makes (rcParams, restored after)."""

    @functools.wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> np.ndarray:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


@_plain_text
def pr_figure(pr: PRCurves, title: str = "") -> np.ndarray:
    """Precision against recall, per class (thin) and overall (thick), AP50 in the legend."""
    fig, ax = _axes()
    for curve in pr.classes:
        ax.plot(curve.recall, curve.precision, linewidth=1, label=f"{curve.name}  {curve.ap:.3f}")
    if pr.overall is not None:
        ax.plot(
            pr.overall.recall,
            pr.overall.precision,
            color="black",
            linewidth=3,
            label=f"all classes  mAP50 {pr.overall.ap:.3f}",
        )
    _unit_axes(ax, "recall", "precision")
    ax.set_title(_title("Precision-recall (IoU 0.5, COCO interpolation)", title))
    _legend(ax, title="AP50")
    return _pixels(fig)


@_plain_text
def f1_figure(f1: F1Curves, title: str = "") -> np.ndarray:
    """F1 against the confidence threshold, per class and overall, the best threshold marked."""
    fig, ax = _axes()
    for curve in f1.classes:
        ax.plot(
            curve.confidence,
            curve.f1,
            linewidth=1,
            label=f"{curve.name}  best {curve.best_f1:.2f} at {curve.best_conf:.2f}",
        )
    best = f1.overall
    ax.plot(best.confidence, best.f1, color="black", linewidth=3, label="all classes")
    if best.best_f1 > 0:
        ax.axvline(best.best_conf, color="red", linestyle="--", linewidth=1)
        ax.plot([best.best_conf], [best.best_f1], "o", color="red", markersize=9)
        ax.annotate(
            f"best F1 {best.best_f1:.3f} at conf {best.best_conf:.3f}\n(P {best.best_precision:.3f}, "
            f"R {best.best_recall:.3f})",
            (best.best_conf, best.best_f1),
            xytext=(10, -40),
            textcoords="offset points",
            color="red",
            fontsize=9,
        )
    _unit_axes(ax, "confidence threshold", "F1")
    ax.set_title(_title(f"F1 against confidence (IoU {f1.iou:g})", title))
    _legend(ax)
    return _pixels(fig)


@_plain_text
def confusion_figure(matrix: ConfusionMatrix, *, normalised: bool, title: str = "") -> np.ndarray:
    """The matrix as a heat map with every cell's value, saying the confidence and IoU it was made at."""
    names = [*matrix.names, "background"]
    values = matrix.normalised() if normalised else matrix.counts
    side = max(5.0, 0.6 * len(names) + 3)
    fig, ax = _axes((side + 1, side))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalised else max(1, int(values.max())))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("labelled class")
    top = values.max() if values.size else 0
    for (r, c), v in np.ndenumerate(values):
        if r == c == len(names) - 1:
            continue
        text = f"{v:.2f}" if normalised else str(int(v))
        ax.text(c, r, text, ha="center", va="center", fontsize=8, color="white" if v > top * 0.6 else "black")
    ax.set_title(_title(confusion_title(matrix, normalised=normalised), title), fontsize=10)
    return _pixels(fig)


def confusion_title(matrix: ConfusionMatrix, *, normalised: bool) -> str:
    """What the matrix's picture says it is: the confidence and IoU it was made at."""
    kind = "each row over its total" if normalised else "counts"
    return f"Confusion matrix at conf {matrix.conf:g}, IoU {matrix.iou:g} ({kind})"


@_plain_text
def tide_figure(tide: TideReport, title: str = "") -> np.ndarray:
    """dAP per error type as bars, the count of each type beside its bar."""
    fig, ax = _axes((8, 4.5))
    labels = [KIND_NAMES[k] for k in ERROR_KINDS]
    values = [tide.dap[k] for k in ERROR_KINDS]
    bars = ax.barh(labels, values, color=["#d62728", "#ff7f0e", "#8c564b", "#9467bd", "#7f7f7f", "#1f77b4"])
    for bar, kind in zip(bars, ERROR_KINDS):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {tide.dap[kind]:.4f} ({tide.counts[kind]})",
            va="center",
            fontsize=9,
        )
    ax.invert_yaxis()
    ax.set_xlim(0, max(0.05, max(values) * 1.35))
    ax.set_xlabel("dAP: AP50 gained by fixing this type alone (number of errors)")
    ax.set_title(
        _title(
            f"TIDE errors (AP50 {tide.ap50:.3f}; foreground IoU {tide.foreground:g}, background {tide.background:g})",
            title,
        ),
        fontsize=10,
    )
    return _pixels(fig)


@_plain_text
def difference_figure(diff: ModelDifference) -> np.ndarray:
    """Per error type, the errors only model a makes and only model b makes, side by side."""
    fig, ax = _axes((8, 4.5))
    y = np.arange(len(diff.kinds))
    ax.barh(y - 0.2, [k.a_only for k in diff.kinds], 0.4, label=f"only {diff.a}", color="#1f77b4")
    ax.barh(y + 0.2, [k.b_only for k in diff.kinds], 0.4, label=f"only {diff.b}", color="#ff7f0e")
    ax.set_yticks(y, [KIND_NAMES[k.kind] for k in diff.kinds])
    ax.invert_yaxis()
    ax.set_xlabel("errors the other model does not make")
    ax.set_title(f"{diff.a} vs {diff.b}", fontsize=10)
    ax.legend(fontsize=8)
    return _pixels(fig)


def _axes(size: tuple[float, float] = (7, 6)):  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    return fig, fig.add_subplot()


def _unit_axes(ax, xlabel: str, ylabel: str) -> None:  # type: ignore[no-untyped-def]
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _legend(ax, **kwargs: str) -> None:  # type: ignore[no-untyped-def]
    if ax.get_legend_handles_labels()[0]:  # no curve, no legend (matplotlib would warn)
        ax.legend(loc="lower left", fontsize=8, **kwargs)


def _title(what: str, title: str) -> str:
    return f"{title}\n{what}" if title else what


def _pixels(fig: Figure) -> np.ndarray:
    """The figure as a BGR image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[:, :, 2::-1])
