"""`--heatmap DIR`: each sequence's maps as a picture over its first frame, with a labelled colour
scale, and as the raw counts (`.npy`, float32, rows x columns of `cell_px`-pixel cells) for scripts.
Files never replace one that was there: `<name>_heatmap_<class>.png` becomes `..._1.png`, and its
`.npy` takes the same number."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detect_cli.outputs.annotate import FONT

SMOOTH_CELLS = 2.5  # the picture's blur, in cells (2% of the longer side): box centres read as areas
SCALE_WIDTH = 90  # pixels of the colour-scale panel at the picture's right
SCALE_MIN_HEIGHT = 120  # the panel's labels and ramp need this much; a shorter sequence is padded below


@dataclass(frozen=True)
class SavedHeatmap:
    sequence: str
    label: str  # "all" or a class name
    png: Path
    npy: Path
    cell_px: float
    peak: float  # the largest count in one cell (raw)

    def as_dict(self) -> dict[str, object]:
        return {
            "sequence": self.sequence,
            "classes": self.label,
            "png": str(self.png),
            "npy": str(self.npy),
            "cell_px": round(self.cell_px, 3),
            "peak_per_cell": self.peak,
        }


def heatmap_picture(
    counts: np.ndarray, background: np.ndarray | None, width: int, height: int, label: str, cell_px: float
) -> np.ndarray:
    """The counts smoothed, coloured (JET, as the attention maps) and blended over the frame where there
    are any, with a colour scale at the right labelled in box centres per cell. A sequence shorter than
    SCALE_MIN_HEIGHT is padded below with white, so the scale keeps its labels."""
    smooth = cv2.GaussianBlur(counts.astype(np.float32), (0, 0), SMOOTH_CELLS) if counts.any() else counts
    peak = float(smooth.max())
    scaled = cv2.resize(smooth / peak if peak > 0 else smooth, (width, height), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap((np.clip(scaled, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    frame = background if background is not None else np.full((height, width, 3), 96, np.uint8)
    alpha = (0.25 + 0.6 * np.clip(scaled, 0, 1))[..., None] * (scaled[..., None] > 0.02)
    picture = (frame * (1 - alpha) + colours * alpha).astype(np.uint8)
    if height < SCALE_MIN_HEIGHT:
        picture = np.vstack([picture, np.full((SCALE_MIN_HEIGHT - height, width, 3), 255, np.uint8)])
    return np.hstack([picture, _scale_panel(max(height, SCALE_MIN_HEIGHT), peak, label, cell_px)])


def _scale_panel(height: int, peak: float, label: str, cell_px: float) -> np.ndarray:
    """The ramp from row 34 to 34 rows above the bottom (at least SCALE_MIN_HEIGHT rows in all)."""
    panel = np.full((height, SCALE_WIDTH, 3), 255, np.uint8)
    top, bottom = 34, height - 34
    ramp = np.linspace(255, 0, bottom - top).astype(np.uint8)[:, None]
    panel[top:bottom, 8:26] = cv2.applyColorMap(np.repeat(ramp, 18, axis=1), cv2.COLORMAP_JET)
    scale = 0.4
    for fraction in (1.0, 0.5, 0.0):
        y = round(bottom - fraction * (bottom - top - 1))
        cv2.line(panel, (26, y), (31, y), (0, 0, 0), 1)
        cv2.putText(panel, f"{peak * fraction:.2g}", (33, y + 4), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(panel, label[:12], (4, 14), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(panel, "centres/cell", (4, 28), FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        panel, f"cell {cell_px:.3g} px", (4, min(height - 6, bottom + 20)), FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA
    )
    return panel


def save_heatmap(folder: Path, name: str, label: str, counts: np.ndarray, picture: np.ndarray) -> tuple[Path, Path]:
    """Write `<name>_heatmap_<label>.png` and `.npy` under `folder` (made if missing) with a number no file
    there has; OSError if they cannot be written (nothing half-written is left)."""
    folder.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", picture)
    if not ok:
        raise OSError("cannot encode the heatmap as PNG")
    stem = f"{_safe(Path(name).stem or 'sequence')}_heatmap_{_safe(label)}"
    n = 0
    while True:
        base = folder / (f"{stem}_{n}" if n else stem)
        n += 1
        png, npy = base.with_name(base.name + ".png"), base.with_name(base.name + ".npy")
        if os.path.lexists(png) or os.path.lexists(npy):
            continue
        written: list[Path] = []
        try:
            for path, write in (
                (png, lambda fh: fh.write(encoded.tobytes())),
                (npy, lambda fh: np.save(fh, counts.astype(np.float32))),
            ):
                with open(path, "xb") as fh:  # exclusive: a file that was there is never replaced
                    written.append(path)
                    write(fh)
        except FileExistsError:  # appeared since the check: ours go, and the next number is tried
            for path in written:
                path.unlink(missing_ok=True)
            continue
        except OSError:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return png, npy


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "_"
