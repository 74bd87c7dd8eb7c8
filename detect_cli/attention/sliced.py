"""Attention maps of a sliced prediction (`--slice`): each detection's map is the one made by the
tile that found it (the leader of its merged group), placed where that tile lies in the full image;
the whole-image map is the tiles' whole-tile maps placed alike (their maximum where tiles overlap).

One hooked prediction per batch of tiles gives the boxes and the maps together, so the detections
are those of the plain sliced run.
"""

from __future__ import annotations

import numpy as np

from detect_cli.attention.capture import explain_batch
from detect_cli.attention.maps import map_size, resize_map
from detect_cli.attention.run import ImageAttention, explain_images
from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.models.detector import PredictOptions
from detect_cli.pipeline.slicing import SlicedDetector


def explain_sliced(sliced: SlicedDetector, image: np.ndarray, options: PredictOptions) -> tuple[ImageAttention, Timing]:
    """The sliced detections of `image` with an attention map each (the `attention` method only), and
    the prediction's timing."""
    windows = sliced.windows(image, options)
    detector = sliced.detector
    if windows is None:  # --slice auto and not much larger than the model: run whole
        ((_, timing, found),) = explain_images(detector, [image], options)
        if isinstance(found, Exception):
            raise found
        return found, timing
    maps: list[np.ndarray] = []  # per raw box, in the order predict_sliced concatenates them
    tile_maps: list[np.ndarray] = []  # per call's image: its whole-image map
    layer = [""]

    def hooked(views: list[np.ndarray], opts: PredictOptions) -> list[tuple[Detections, Timing]]:
        out = []
        for detections, timing, found in explain_batch(detector, views, opts):
            if isinstance(found, Exception):
                raise found
            maps.extend(found.maps)
            tile_maps.append(found.image_map)
            layer[0] = found.layer
            out.append((detections, timing))
        return out

    result = sliced.predict_sliced(image, windows, options, run=hooked)
    height, width = image.shape[:2]
    out_hw = map_size(height, width)
    placed = [place(maps[k], result.windows[k], (height, width), out_hw) for k in result.leaders]
    whole = np.zeros(out_hw, np.float32)
    origins = list(windows) + ([np.full(4, -1)] if sliced.slicing.full else [])
    for tile_map, window in zip(tile_maps, origins):
        np.maximum(whole, place(tile_map, window, (height, width), out_hw), out=whole)
    explained = ImageAttention(
        result.detections,
        detector.names,
        layer[0],
        {"attention": whole},
        {"attention": placed},
        image_hw=(height, width),
    )
    return explained, result.timing


def place(heat: np.ndarray, window: np.ndarray, image_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A tile's map (over the tile) as a map of the whole image at `out_hw`, zero outside the tile.
    A window of -1s means the map already covers the whole image (the full-image pass)."""
    if window[0] < 0:
        return resize_map(heat, *out_hw)
    sy, sx = out_hw[0] / image_hw[0], out_hw[1] / image_hw[1]
    x1, y1 = int(window[0] * sx), int(window[1] * sy)
    x2, y2 = max(x1 + 1, round(window[2] * sx)), max(y1 + 1, round(window[3] * sy))
    out = np.zeros(out_hw, np.float32)
    out[y1:y2, x1:x2] = resize_map(heat, y2 - y1, x2 - x1)
    return out
