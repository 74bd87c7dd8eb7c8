"""Attention capture on YAML-built models (random weights, right shapes): one map per detection,
at the original image size, lined up with the detection's box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detect_cli.attention.capture import explain, layercam
from detect_cli.attention.maps import figures, map_size
from detect_cli.models.detector import PredictOptions
from tests.conftest import SAMPLES, TEST_IMGSZ

BUS = cv2.imread(str(SAMPLES / "bus.jpg"))  # 810 x 1080, not square: catches x/y swaps
MAP_HW = map_size(*BUS.shape[:2])  # (640, 480): maps are kept at most 640 pixels


@pytest.mark.parametrize("nms", [False, True])
def test_yolo_maps_per_detection_and_aligned(yolo_detector, nms: bool) -> None:
    options = PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=6, nms=nms)
    e = explain(yolo_detector, BUS, options)
    assert len(e.maps) == len(e.detections) == 6
    assert MAP_HW == (640, 480)
    assert all(m.shape == MAP_HW and 0 <= m.min() and m.max() == pytest.approx(1.0) for m in e.maps)
    # the C2PSA cell a detection reads from contains the anchor that made it, and an anchor point
    # lies inside its own box (YOLO boxes are distances from it): cell centre within one cell of the box
    in_h = TEST_IMGSZ
    cell_px = 32 * BUS.shape[0] / in_h  # one stride-32 cell in original pixels
    grid_w = 160 * BUS.shape[1] // BUS.shape[0] // 32 + 1  # 5 columns at 160 x 128
    for (x1, y1, x2, y2), cell in zip(e.detections.xyxy, e.extra["cells"]):
        row, col = divmod(cell, grid_w)
        cx = (col + 0.5) * cell_px - (grid_w * 32 - BUS.shape[1] * in_h / BUS.shape[0]) / 2 * BUS.shape[0] / in_h
        cy = (row + 0.5) * cell_px
        assert x1 - cell_px <= cx <= x2 + cell_px and y1 - cell_px <= cy <= y2 + cell_px


def test_rtdetr_maps_follow_each_query(rtdetr_detector) -> None:
    options = PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=5)
    e = explain(rtdetr_detector, BUS, options)
    assert len(e.maps) == 5 and len(set(e.extra["queries"])) >= 1
    assert all(m.shape == MAP_HW for m in e.maps)
    # deformable attention samples around each query's reference box, so the maps sit on the boxes
    mass = [figures(m, box, BUS.shape[:2]).mass_in_box for m, box in zip(e.maps, e.detections.xyxy)]
    assert np.mean(mass) > 0.5
    last = explain(rtdetr_detector, BUS, options, layer=5)
    assert last.layer.endswith("layer 5") and len(last.maps) == 5
    assert not np.allclose(e.maps[0], e.maps[-1])  # each query has its own map


def test_layercam_comes_back_as_an_array(rtdetr_detector) -> None:
    heat = layercam(rtdetr_detector, BUS, PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=5), topk=2)
    assert heat.shape == MAP_HW and heat.max() == pytest.approx(1.0)


def test_exported_models_are_refused(yolo_detector) -> None:
    from dataclasses import replace

    from detect_cli.core.errors import ConfigError

    exported = replace(yolo_detector, ref=replace(yolo_detector.ref, kind="exported"))
    with pytest.raises(ConfigError, match="PyTorch") as info:
        explain(exported, BUS, PredictOptions())
    assert info.value.exit_code == 2 and "exported from" in info.value.hint
