"""D-RISE (Petsiuk et al., CVPR 2021): a black-box saliency map per detection from random masks.

Each mask keeps a random half of a coarse grid (smoothly upsampled, randomly shifted, as in RISE);
the masked image (image x mask: hidden parts go black, as in the paper) is predicted, and the mask
is weighted by how well that prediction still finds the detection: the best IoU x confidence among
predictions of the same class (the paper's IoU x cosine of class vectors x objectness; `Detector.predict`
gives one class per box, so the cosine is 1 for the same class, 0 otherwise). Only predictions are
used, so it works for any model, exports included, and costs one prediction per mask.

The map is the weights' covariance with the masks, sum_i (w_i - mean w) M_i: the plain weighted sum
of the paper plus a near-constant offset (mean w x the masks' average), which ranks pixels alike but
puts a floor under the whole image that the mass-in-box figure would count.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from detect_cli.attention.maps import map_size, normalise
from detect_cli.core.boxes import box_iou
from detect_cli.core.detections import Detections

MASKS = 1000
GRID = 16  # cells per side of a mask
KEEP = 0.5  # share of cells kept
BATCH = 16  # masked images per prediction call


def random_masks(
    count: int, height: int, width: int, rng: np.random.Generator, grid: int = GRID, keep: float = KEEP
) -> np.ndarray:
    """(count, height, width) float32 masks in [0, 1]: a grid x grid random binary grid upsampled
    bilinearly to one cell more than the image and cropped at a random shift (RISE)."""
    cell_h, cell_w = int(np.ceil(height / grid)), int(np.ceil(width / grid))
    out = np.empty((count, height, width), np.float32)
    for i in range(count):
        cells = (rng.random((grid, grid)) < keep).astype(np.float32)
        up = cv2.resize(cells, ((grid + 1) * cell_w, (grid + 1) * cell_h), interpolation=cv2.INTER_LINEAR)
        dy, dx = int(rng.integers(0, cell_h)), int(rng.integers(0, cell_w))
        out[i] = up[dy : dy + height, dx : dx + width]
    return out


def similarity(targets: Detections, found: Detections) -> np.ndarray:
    """(len(targets),): per target, the best IoU x confidence among `found` boxes of its class."""
    if len(found) == 0 or len(targets) == 0:
        return np.zeros(len(targets), np.float64)
    score = box_iou(targets.xyxy, found.xyxy) * found.confidence[None, :]
    same = targets.class_id[:, None] == found.class_id[None, :]
    return np.where(same, score, 0.0).max(axis=1).astype(np.float64)


def drise_maps(
    predict: Callable[[list[np.ndarray]], list[Detections]],
    image: np.ndarray,
    targets: Detections,
    rng: np.random.Generator,
    masks: int = MASKS,
    batch: int = BATCH,
) -> list[np.ndarray]:
    """One map per target detection (values in [0, 1], at `map_size` of the image). `predict` runs a
    list of images and should keep low-confidence predictions (a masked object scores lower)."""
    h0, w0 = image.shape[:2]
    mh, mw = map_size(h0, w0)
    if len(targets) == 0:
        return []
    weighted = np.zeros((len(targets), mh, mw), np.float64)
    mask_sum = np.zeros((mh, mw), np.float64)
    weight_sum = np.zeros(len(targets), np.float64)
    batch = max(1, min(batch, int(64e6 // max(image.nbytes, 1))))  # a big image's masked copies fit in memory
    done = 0
    while done < masks:
        n = min(batch, masks - done)
        small = random_masks(n, mh, mw, rng)  # the maps' resolution; scaled up to the image for masking
        masked = [(image * _full(m, h0, w0)[..., None]).astype(np.uint8) for m in small]
        for mask, found in zip(small, predict(masked), strict=True):
            w = similarity(targets, found)
            weighted += w[:, None, None] * mask[None]
            weight_sum += w
            mask_sum += mask
        done += n
    saliency = weighted / masks - (weight_sum / masks)[:, None, None] * (mask_sum / masks)[None]
    return [normalise(s) for s in saliency]


def _full(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    return mask if mask.shape == (height, width) else cv2.resize(mask, (width, height))
