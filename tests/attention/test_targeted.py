"""Maps targeted at one detection, on the packaged demo models and generated scenes: gradients of the
detection's own score, D-RISE, and RT-DETR's encoder attention."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detect_cli.attention.maps import figures
from detect_cli.attention.run import explain_image, map_names
from detect_cli.core.errors import ConfigError
from detect_cli.demo.scenes import make_scene
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.lookup import PACKAGED, PACKAGED_DIR, resolve_model
from tests.conftest import SAMPLES

OPTIONS = PredictOptions(conf=0.4, imgsz=320)
DEMOS = [name for name in ("demo", "demo-rtdetr") if (PACKAGED_DIR / PACKAGED[name]).is_file()]


def scene(index: int) -> tuple[np.ndarray, list]:
    """A generated scene the demo models never saw (they trained on seed 1)."""
    return make_scene(np.random.default_rng([5, index]))


@pytest.fixture(scope="module", params=DEMOS)
def demo(request: pytest.FixtureRequest):
    return load_detector(resolve_model(request.param), device="cpu", threads=1)


def mass(heat: np.ndarray, box: np.ndarray) -> float:
    return figures(heat, box).mass_in_box


@pytest.mark.parametrize("image", ["scene", "sample"])
def test_targeted_gradients_follow_the_second_of_two_same_class_objects(demo, image: str) -> None:
    if image == "scene":  # two triangles, apart, nothing else
        picture, labels = scene(59)
        assert [label[0] for label in labels] == [2, 2]
    else:  # shape_00003.jpg: two squares among other shapes (issue 18: LayerCAM put the second's map on the first)
        picture = cv2.imread(str(SAMPLES / "shapes" / "shape_00003.jpg"))
    result = explain_image(demo, picture, OPTIONS, method="all", masks=1)
    dets = result.detections
    pairs = [(i, j) for i in range(len(dets)) for j in range(i + 1, len(dets)) if dets.class_id[i] == dets.class_id[j]]
    if image == "sample":
        pairs = [p for p in pairs if dets.class_id[p[0]] == 1]  # the squares
    assert len(pairs) == 1
    first, second = pairs[0]
    for target, other in ((first, second), (second, first)):
        heat = result.maps["layercam-det"][target]
        # the bug this guards against put the map on the other object (ratio < 1); the weakest pair of the
        # shipped models is demo-rtdetr's second triangle here, 0.32 vs 0.13
        assert mass(heat, dets.xyxy[target]) > 2 * mass(heat, dets.xyxy[other]), (target, other)
    # Ultralytics' LayerCAM explains a class, not a detection: both get the same map
    assert np.array_equal(result.maps["layercam"][first], result.maps["layercam"][second])
    assert not np.array_equal(result.maps["gradcam"][first], result.maps["gradcam"][second])


def test_drise_peaks_inside_the_box_of_a_lone_object(demo) -> None:
    picture, labels = scene(3)
    assert len(labels) == 1
    masks = 160 if demo.ref.family == "yolo" else 64  # YOLO's confidence barely moves under half masks: more needed
    result = explain_image(demo, picture, OPTIONS, method="drise", masks=masks)
    (box,) = result.detections.xyxy
    x, y = figures(result.maps["drise"][0], box).peak_xy
    assert box[0] <= x <= box[2] and box[1] <= y <= box[3]
    assert result.layer == f"D-RISE, {masks} masks"


def test_rtdetr_encoder_attention_sits_on_the_objects(demo) -> None:
    if demo.ref.family != "rtdetr":
        with pytest.raises(ConfigError, match="RT-DETR"):
            explain_image(demo, scene(3)[0], OPTIONS, attention_map="encoder")
        return
    inside, share = [], []
    for index in (3, 59, 74):
        picture, _ = scene(index)
        result = explain_image(demo, picture, OPTIONS, attention_map="encoder")
        assert list(result.maps) == ["encoder"] and len(result.maps["encoder"]) == len(result.detections)
        for heat, (x1, y1, x2, y2) in zip(result.maps["encoder"], result.detections.xyxy):
            inside.append(mass(heat, np.array([x1, y1, x2, y2])))
            share.append((x2 - x1) * (y2 - y1) / picture.shape[0] / picture.shape[1])
    assert np.mean(inside) > 3 * np.mean(share)


@pytest.mark.parametrize(
    ("method", "family", "expected"),
    [
        ("all", "rtdetr", ["attention", "encoder", "gradcam", "layercam-det", "layercam", "drise"]),
        ("all", "yolo", ["attention", "gradcam", "layercam-det", "layercam", "drise"]),
        ("both", "yolo", ["attention", "layercam"]),
    ],
)
def test_methods_name_their_maps(method: str, family: str, expected: list[str]) -> None:
    assert map_names(method, family) == expected
    with pytest.raises(ConfigError, match="--method"):
        map_names("gradcam++", family)
