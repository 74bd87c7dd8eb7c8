import numpy as np
import pytest

from detect_cli.core.coco_map import coco_boxes, mean_map
from detect_cli.core.detections import Detections


def _dets(boxes, cls, conf=None) -> Detections:
    xyxy = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return Detections(xyxy, np.array(conf or [0.9] * len(xyxy), dtype=np.float32), np.array(cls, dtype=np.int64))


def test_coco_boxes_are_xywh_numbered_from_first_id() -> None:
    anns = coco_boxes(_dets([[10, 20, 30, 60]], [2]), 7, with_score=True, first_id=5)
    assert anns == [
        {
            "id": 5,
            "image_id": 7,
            "category_id": 2,
            "bbox": [10.0, 20.0, 20.0, 40.0],
            "area": 800.0,
            "iscrowd": 0,
            "score": pytest.approx(0.9),
        }
    ]


def test_perfect_detections_score_one_and_a_loose_box_only_counts_at_low_iou() -> None:
    truth = _dets([[10, 10, 50, 50], [60, 60, 100, 100]], [0, 1])
    assert mean_map([(truth, truth, (120, 120))], [0, 1]) == pytest.approx((1.0, 1.0))
    loose = _dets([[10, 10, 50, 50], [60, 60, 110, 110]], [0, 1])  # IoU 0.64 for class 1
    ap50, ap = mean_map([(truth, loose, (120, 120))], [0, 1])
    assert ap50 == pytest.approx(1.0)
    assert 0.5 < ap < 1.0


def test_a_missed_class_scores_zero_and_classes_without_truth_are_left_out() -> None:
    truth = _dets([[10, 10, 50, 50]], [0])
    wrong_class = _dets([[10, 10, 50, 50]], [1])
    assert mean_map([(truth, wrong_class, (64, 64))], [0, 1]) == pytest.approx((0.0, 0.0))
    assert mean_map([], [0]) == (0.0, 0.0)
