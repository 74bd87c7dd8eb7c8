"""How the detection caps bore on an image, or summed, on a run: `--max-det` bounds each model pass (a
whole image, or one tile of a sliced one), `--max-det-image` the merged boxes of a sliced image.

A pass that returns exactly `--max-det` boxes may have had more: the model cut them (lowest confidence
first), so the count says "the cap was reached", not how many it dropped. The image cap is applied by
us after the merge, so there the dropped boxes are known exactly. The tally travels with the image's
`Detections` (`metadata[CAPS]`) and is summed by `RunSummary`, whose run table says when a cap bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

CAPS = "caps"  # the key of a `Capped` in `Detections.metadata`


@dataclass(frozen=True)
class Capped:
    """Counts of model passes and images, and what the caps did to them."""

    passes: int = 0  # model passes: the image itself, or each tile (and the full-image pass) when sliced
    passes_full: int = 0  # passes that returned --max-det boxes
    images: int = 0
    images_full: int = 0  # images with at least one such pass
    images_cut: int = 0  # sliced images whose merged boxes --max-det-image cut
    dropped: int = 0  # boxes --max-det-image dropped, over those images

    @classmethod
    def of_passes(cls, found: list[int], max_det: int | None) -> Capped:
        """One image run in passes that found `found[k]` boxes each, under a per-pass cap of `max_det`
        (None: no cap that can bite, e.g. an RT-DETR with no more queries than --max-det)."""
        full = 0 if max_det is None else sum(n >= max_det for n in found)
        return cls(len(found), full, 1, int(full > 0))

    def cut(self, dropped: int) -> Capped:
        """The same image after the image cap dropped `dropped` of its merged boxes."""
        return Capped(
            self.passes,
            self.passes_full,
            self.images,
            self.images_full,
            self.images_cut + int(dropped > 0),
            self.dropped + dropped,
        )

    def __add__(self, other: Capped) -> Capped:
        return Capped(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def bit(self) -> bool:
        """Whether either cap was reached anywhere."""
        return bool(self.passes_full or self.dropped)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        """(what, how much) for the run table: only the caps that were reached."""
        rows = []
        if self.passes_full:
            rows.append(
                (
                    "passes that hit --max-det",
                    f"{self.passes_full:,} of {self.passes:,} ({self.images_full:,} image(s))",
                )
            )
        if self.dropped:
            rows.append(("boxes cut by --max-det-image", f"{self.dropped:,} ({self.images_cut:,} image(s))"))
        return rows

    def advice(self) -> str:
        """One line for a note: what bit, and what to do about it."""
        parts = []
        if self.passes_full:
            parts.append(
                f"{self.passes_full:,} of {self.passes:,} model passes returned --max-det boxes (the model "
                "may have found more: raise --max-det)"
            )
        if self.dropped:
            parts.append(f"--max-det-image cut {self.dropped:,} merged boxes from {self.images_cut:,} image(s)")
        return "; ".join(parts)
