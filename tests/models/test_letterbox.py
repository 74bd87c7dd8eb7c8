"""Our letterbox and box scaling equal Ultralytics' own code, pixel for pixel, on odd shapes."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.models.letterbox import (
    decode_rtdetr,
    decode_yolo_end2end,
    input_hw,
    letterbox,
    place,
    scale_to_original,
    to_input,
)

SHAPES = [(1, 5000), (5000, 1), (7, 3), (3, 7), (320, 320), (319, 321), (1080, 810), (2, 2), (641, 17)]


@pytest.fixture(scope="module")
def ultralytics_letterbox():
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.data.augment import LetterBox

    return LetterBox


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("stretch", [False, True], ids=["yolo-letterbox", "rtdetr-stretch"])
def test_letterbox_equals_ultralytics(ultralytics_letterbox, shape: tuple[int, int], stretch: bool) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for size in [(320, 320), (640, 640), (384, 640)]:
        theirs = ultralytics_letterbox(size, auto=False, scale_fill=stretch, stride=32)(image=image)
        ours, placement = letterbox(image, size, stretch=stretch)
        assert ours.shape == theirs.shape == (*size, 3)
        assert np.array_equal(ours, theirs)
        assert placement.orig_hw == shape and placement.input_hw == size


@pytest.mark.parametrize(
    "shape", [*SHAPES, (480, 640), (720, 1280), (640, 480), (1080, 1920)], ids=lambda s: f"{s[0]}x{s[1]}"
)
@pytest.mark.parametrize("imgsz", [320, 640])
def test_rect_input_is_the_one_ultralytics_pads_a_pt_model_to(ultralytics_letterbox, shape, imgsz: int) -> None:
    """At the picture's own aspect: `LetterBox(auto=True)`'s rectangle, and the same pixels in it."""
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    theirs = ultralytics_letterbox((imgsz, imgsz), auto=True, stride=32)(image=image)
    hw = input_hw(shape, imgsz, stride=32, rect=True)
    ours, _ = letterbox(image, hw, stretch=False)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert hw[0] % 32 == 0 and hw[1] % 32 == 0 and max(hw) == imgsz
    assert input_hw(shape, imgsz, stride=32, rect=False) == (imgsz, imgsz)


def test_a_wide_frame_runs_at_half_the_pixels() -> None:
    assert input_hw((320, 640), 320, stride=32, rect=True) == (160, 320)
    assert input_hw((720, 1280), 320, stride=32, rect=True) == (192, 320)
    assert input_hw((640, 480), 320, stride=32, rect=True) == (320, 256)


@pytest.mark.parametrize("shape", [(480, 640), (720, 1280), (640, 360)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_rect_boxes_go_back_as_scale_boxes_puts_them(shape: tuple[int, int]) -> None:
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    import torch
    from ultralytics.utils import ops

    hw = input_hw(shape, 320, stride=32, rect=True)
    rng = np.random.default_rng(3)
    xy = rng.uniform(-10, 330, (40, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0, 80, (40, 2)).astype(np.float32)], axis=1)
    placement, _, _ = place(shape, hw, stretch=False)
    theirs = ops.scale_boxes(hw, torch.from_numpy(boxes.copy()), shape).numpy()
    assert np.allclose(scale_to_original(boxes, placement), theirs, rtol=0, atol=1e-4)


def test_a_grayscale_array_is_boxed_as_its_bgr_copy(ultralytics_letterbox) -> None:
    gray = np.random.default_rng(1).integers(0, 256, (37, 53), dtype=np.uint8)
    ours, _ = letterbox(gray, (320, 320), stretch=False)
    theirs = ultralytics_letterbox((320, 320), auto=False)(image=np.repeat(gray[..., None], 3, axis=2))
    assert np.array_equal(ours, theirs)


def test_the_input_tensor_is_rgb_in_0_to_1() -> None:
    boxed = np.zeros((2, 3, 3), dtype=np.uint8)
    boxed[..., 0] = 255  # blue in BGR
    tensor = to_input(boxed)
    assert tensor.shape == (1, 3, 2, 3) and tensor.dtype == np.float32
    assert tensor[0, 2].min() == 1.0 and tensor[0, :2].max() == 0.0  # blue is the last channel in RGB


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_boxes_go_back_as_scale_boxes_puts_them(shape: tuple[int, int]) -> None:
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    import torch
    from ultralytics.utils import ops

    rng = np.random.default_rng(7)
    xy = rng.uniform(-20, 340, (50, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0, 100, (50, 2)).astype(np.float32)], axis=1)
    placement, _, _ = place(shape, (320, 320), stretch=False)
    theirs = ops.scale_boxes((320, 320), torch.from_numpy(boxes.copy()), shape).numpy()
    assert np.allclose(scale_to_original(boxes, placement), theirs, rtol=0, atol=1e-4)


def test_rows_are_kept_as_ultralytics_filters_them() -> None:
    """score > conf (not >=), wanted classes only, then the first max_det in the head's own order."""
    rows = np.array(
        [
            [0, 0, 10, 10, 0.9, 1],
            [0, 0, 10, 10, 0.25, 0],
            [0, 0, 10, 10, 0.8, 2],
            [0, 0, 10, 10, 0.7, 1],
            [0, 0, 10, 10, 0.6, 1],
        ],
        dtype=np.float32,
    )
    placement, _, _ = place((10, 10), (10, 10), stretch=False)
    _, conf, cls = decode_yolo_end2end(rows, placement, 0.25, None, 300)
    assert conf.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6]) and cls.tolist() == [1, 2, 1, 1]
    _, conf, cls = decode_yolo_end2end(rows, placement, 0.25, (1,), 2)
    assert conf.tolist() == pytest.approx([0.9, 0.7]) and cls.tolist() == [1, 1]
    normalised = np.array([[0.5, 0.5, 0.2, 0.4, 0.9, 3]], dtype=np.float32)
    stretched, _, _ = place((100, 200), (320, 320), stretch=True)
    xyxy, _, _ = decode_rtdetr(normalised, stretched, 0.5, None, 300)
    assert xyxy.tolist() == [pytest.approx([80, 30, 120, 70])]  # cx*w - w*bw/2 ...: the original's pixels
