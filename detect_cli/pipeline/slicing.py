"""Sliced inference (`--slice`): small objects in big images.

`SlicedDetector` wraps a detector and keeps its `predict(images, options)` protocol, so the engine,
`detect`, `evaluate`, `compare` and the Ray actors get slicing by wrapping the detector they run.
Each large image is cut into overlapping tiles (views into the decoded image, never copies), the
tiles go through the model `batch` at a time at the model's own run size, their boxes are shifted
back into full-image pixels, an optional full-image pass is added, and duplicates where tiles
overlap are merged (`tile_merge.py`).

`--max-det` means what it means to the model: the most boxes one pass returns, so here one tile.
The merged image keeps every box the merge keeps, unless `--max-det-image` caps it (the best ones
kept). Under the old cap of 300 per image, a dense generated 3000 x 2000 scene (537 shapes) kept 300
of its 547 boxes (issue #33). Each image's `caps.Capped` tally says when either cap was reached.

Tiles cover the image exactly: the last tile of a row or column is shifted back inside the image
rather than padded, so every tile is a real crop of the model's input size (as SAHI and
supervision's `InferenceSlicer` do).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.errors import InputError
from detect_cli.core.results import Timing
from detect_cli.core.settings import AUTO, DetectSettings, parse_size
from detect_cli.pipeline.tile_merge import MATCH_THRESHOLD, merge_detections

if TYPE_CHECKING:
    from detect_cli.models.detector import PredictOptions
    from detect_cli.pipeline.engine import Predicts

# --slice auto slices an image only when its longer side is more than this many times the model's run
# size: below it, the full-frame pass already sees objects at a third or more of their size.
AUTO_FACTOR = 2.0
MAX_TILES = 20_000  # per image: a 10k x 10k image in 320-px tiles at overlap 0.2 is 1,521


@dataclass(frozen=True)
class SliceOptions:
    """How to slice. `size` (width, height) of a tile, or None for `auto`: tiles of the model's run
    size, and only for images whose longer side exceeds AUTO_FACTOR x that size."""

    size: tuple[int, int] | None = None
    overlap: float = 0.2
    full: bool = False  # also run the whole image and merge its boxes in (SAHI's "standard prediction")
    merge: str = "nms"  # nms: keep the best box of a group; nmm: grow it to the union of the group
    match: str = "ios"  # iou, or ios (intersection over the smaller box: a tile's cut-off part of an object)
    record_tiles: bool = False  # records name the tile (x1, y1, x2, y2) that found each box
    max_det_image: int | None = None  # the most merged boxes an image keeps (the best); None: all

    def describe(self) -> str:
        size = AUTO if self.size is None else f"{self.size[0]}x{self.size[1]}"
        cap = f", at most {self.max_det_image} per image" if self.max_det_image else ""
        return f"{size}, overlap {self.overlap:g}, {self.merge}/{self.match}{', +full' if self.full else ''}{cap}"


def slice_options(settings: DetectSettings) -> SliceOptions | None:
    """The run's slicing, or None when --slice is not given."""
    if settings.slice is None:
        return None
    return SliceOptions(
        parse_size(settings.slice),
        settings.slice_overlap,
        settings.slice_full,
        settings.slice_merge,
        settings.slice_match,
        settings.slice_tiles,
        settings.max_det_image,
    )


def starts(length: int, tile: int, overlap: float) -> list[int]:
    """Offsets of the tiles along one side: a step of tile x (1 - overlap), the last one flush
    with the far edge (shifted back, not padded). One tile when the side fits in one."""
    if length <= tile:
        return [0]
    step = max(1, tile - round(tile * overlap))
    return [*range(0, length - tile, step), length - tile]


def tiles(width: int, height: int, tile_wh: tuple[int, int], overlap: float) -> np.ndarray:
    """(K, 4) int windows x1, y1, x2, y2 that cover a width x height image, row by row."""
    tw, th = min(tile_wh[0], width), min(tile_wh[1], height)
    xs, ys = starts(width, tw, overlap), starts(height, th, overlap)
    return np.array([(x, y, x + tw, y + th) for y in ys for x in xs], dtype=np.int64).reshape(-1, 4)


@dataclass
class SlicedImage:
    """One image's sliced prediction before it is returned: the merged boxes, which raw box leads
    each, and the raw boxes' windows (for attention maps, which come from the tile that found them)."""

    detections: Detections
    leaders: np.ndarray  # index into the raw (tile + full-pass) boxes of each kept box
    windows: np.ndarray  # (R, 4): the window of each raw box, -1s for the full-image pass
    timing: Timing


class SlicedDetector:
    """A detector that runs large images tile by tile. Anything else is asked of the wrapped one
    (`ref`, `profile`, `runs_nms`, ...), so it stands wherever a `models.Detector` does."""

    def __init__(self, detector: Predicts, slicing: SliceOptions, batch: int = 1) -> None:
        self.detector = detector
        self.slicing = slicing
        self.batch = max(1, int(batch))
        self.names = detector.names

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in {"detector", "slicing", "batch"}:
            raise AttributeError(name)
        return getattr(self.detector, name)

    def windows(self, image: np.ndarray, options: PredictOptions) -> np.ndarray | None:
        """The image's tiles, or None when it is run whole (`auto` and not much larger than the model)."""
        height, width = image.shape[:2]
        size = self.slicing.size
        if size is None:
            if max(height, width) <= AUTO_FACTOR * options.imgsz:
                return None
            size = (options.imgsz, options.imgsz)
        count = len(starts(width, size[0], self.slicing.overlap)) * len(starts(height, size[1], self.slicing.overlap))
        if count > MAX_TILES:
            raise InputError(
                f"--slice {size[0]}x{size[1]} at overlap {self.slicing.overlap:g} cuts this "
                f"{width}x{height} image into {count:,} tiles (at most {MAX_TILES:,})",
                "use larger tiles or less overlap",
            )
        return tiles(width, height, size, self.slicing.overlap)

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        out: list[tuple[Detections, Timing] | None] = [None] * len(images)
        whole = []
        for k, image in enumerate(images):
            windows = self.windows(image, options)
            if windows is None:
                whole.append(k)
            else:
                sliced = self.predict_sliced(image, windows, options)
                out[k] = (sliced.detections, sliced.timing)
        if whole:  # images run whole go through together, as the engine batched them
            for k, (detections, timing) in zip(whole, self.detector.predict([images[k] for k in whole], options)):
                out[k] = (self._tagged(self._capped(detections, [detections], options.max_det), None), timing)
        return out  # type: ignore[return-value]

    def predict_sliced(
        self, image: np.ndarray, windows: np.ndarray, options: PredictOptions, run: Any = None
    ) -> SlicedImage:
        """Tiles in batches, boxes shifted into the image, the full pass added, merged.

        `run(views, options)` replaces the wrapped detector's `predict` (attention's hooked pass)."""
        run = run or self.detector.predict
        parts, owners, spent = [], [], np.zeros(3)
        for chunk in _chunks(windows, self.batch):
            views = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in chunk]  # views: no pixels are copied here
            for window, (detections, timing) in zip(chunk, run(views, options)):
                parts.append(_shifted(detections, window[0], window[1]))
                owners.append(np.repeat(window[None], len(detections), 0))
                spent += (timing.preprocess, timing.inference, timing.postprocess)
        if self.slicing.full:
            ((detections, timing),) = run([image], options)
            parts.append(detections)
            owners.append(np.full((len(detections), 4), -1, np.int64))
            spent += (timing.preprocess, timing.inference, timing.postprocess)
        start = time.perf_counter()
        raw = Detections.merge(parts)
        merged, leaders = merge_detections(raw, self.slicing.merge, self.slicing.match, MATCH_THRESHOLD)
        capped = self._capped(merged, parts, options.max_det)
        leaders = leaders[: len(capped)]  # the merge ranks its boxes best first: a cut keeps a prefix
        window_of = np.concatenate(owners) if owners else np.zeros((0, 4), np.int64)
        detections = self._tagged(capped, window_of[leaders])
        merge_ms = (time.perf_counter() - start) * 1e3
        return SlicedImage(detections, leaders, window_of, Timing(0.0, spent[0], spent[1], spent[2] + merge_ms))

    def _capped(self, detections: Detections, passes: list[Detections], max_det: int) -> Detections:
        """The image's boxes under --max-det-image (the most confident kept, in their order), with their
        `Capped` tally: which of the model's `passes` came back full (as each pass says, else by its
        count against `max_det`), and what the image cap dropped."""
        kept, cap = detections, self.slicing.max_det_image
        if cap is not None and len(detections) > cap:
            kept = detections[np.sort(np.argsort(-detections.confidence, kind="stable")[:cap])]
        full = sum(p.metadata.get(CAPS, Capped.of_passes([len(p)], max_det)).passes_full for p in passes)
        tally = Capped(len(passes), full, 1, int(full > 0)).cut(len(detections) - len(kept))
        return kept.with_metadata(**{CAPS: tally})

    def _tagged(self, detections: Detections, windows: np.ndarray | None) -> Detections:
        if not self.slicing.record_tiles:
            return detections
        return detections.with_extra(tile=np.asarray(windows, np.int64).reshape(-1, 4))


def sliced(detector: Predicts, settings: DetectSettings) -> Predicts:
    """The detector to run for these settings: wrapped when --slice is given, else itself."""
    slicing = slice_options(settings)
    return detector if slicing is None else SlicedDetector(detector, slicing, settings.batch)


def _chunks(windows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(windows), size):
        yield windows[start : start + size]


def _shifted(detections: Detections, dx: int, dy: int) -> Detections:
    offset = np.array([dx, dy, dx, dy], dtype=np.float32)
    return replace(detections, xyxy=detections.xyxy + offset) if len(detections) else detections


def check_slicing(slicing: SliceOptions | None, imgsz: int, max_det_image: int | None = None) -> list[str]:
    """Notes on a slicing that cannot help: tiles much larger than what the model runs at, or an image
    cap without slicing (one pass is the whole image, so --max-det is its cap)."""
    if slicing is None and max_det_image is not None:
        return ["--max-det-image has no effect without --slice: --max-det caps each image (one pass each)"]
    if slicing is None or slicing.size is None:
        return []
    if max(slicing.size) > AUTO_FACTOR * imgsz:
        return [
            f"--slice {slicing.size[0]}x{slicing.size[1]}: tiles are shrunk to the model's {imgsz} px, "
            "so small objects stay small; tiles near the model's size (or --slice auto) work best"
        ]
    return []
