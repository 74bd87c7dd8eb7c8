"""`Result`: the boxes, names, counts, picture, record and supervision view of one input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect_cli.api.results import HTML_MAX_ROWS, Result, Results
from detect_cli.core.detections import Detections
from detect_cli.core.results import ImageResult
from detect_cli.outputs.records import image_record

NAMES = {0: "circle", 1: "square", 2: "ring"}


def _result(n: int = 3, height: int = 480, width: int = 640, **more) -> ImageResult:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, min(height, width) / 2, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(10, 100, (n, 2))])
    detections = Detections(boxes, rng.uniform(0.3, 1.0, n), np.arange(n) % 3)
    image = np.full((height, width, 3), 90, np.uint8)
    return ImageResult("a/b.jpg", 4, detections, NAMES, width, height, image=image, **more)


def test_boxes_names_and_counts() -> None:
    result = Result(_result(5))
    assert result.boxes is result.detections and len(result.boxes) == len(result) == 5
    assert result.class_names == ["circle", "square", "ring", "circle", "square"]
    assert result.counts == {"circle": 2, "square": 2, "ring": 1}
    assert result.shape == (480, 640) and result.ok and result.frame is None


@pytest.mark.parametrize(("height", "width"), [(480, 640), (360, 640), (640, 360)])  # 4:3, 16:9, portrait
def test_plot_draws_on_a_copy_of_the_picture(height: int, width: int) -> None:
    result = Result(_result(3, height, width))
    drawn = result.plot()
    assert drawn.shape == (height, width, 3) and (drawn != 90).any()
    assert (result.image == 90).all()  # the picture itself is untouched


def test_to_dict_is_the_jsonl_record() -> None:
    raw = _result(3)
    record = Result(raw).to_dict()
    assert record == json.loads(json.dumps(image_record(raw)))
    assert record["source"] == "a/b.jpg" and len(record["detections"]) == 3


def test_a_failed_input_says_why_and_has_no_picture() -> None:
    result = Result(ImageResult("<array 1>", 1, error="not an image: an array of shape (5,)"))
    assert not result.ok and result.shape is None and len(result) == 0
    assert "error=" in repr(result) and "not an image" in result._repr_html_()
    with pytest.raises(ValueError, match="no picture to draw on"):
        result.plot()


def test_the_notebook_view_has_the_picture_and_a_bounded_table() -> None:
    html = Result(_result(HTML_MAX_ROWS + 5, 2160, 3840))._repr_html_()
    assert html.count("data:image/png;base64,") == 1
    assert html.count("<tr>") == HTML_MAX_ROWS + 1 and "and 5 more" in html
    assert len(html) < 2_000_000  # a 4K frame is scaled down


def test_results_total_their_counts() -> None:
    results = Results([Result(_result(3)), Result(_result(2)), Result(ImageResult("x", 2, error="gone"))])
    assert results.counts == {"circle": 2, "square": 2, "ring": 1}
    assert [r.source for r in results.failed] == ["x"] and len(results.to_dicts()) == 3


def test_supervision_round_trip_keeps_boxes_classes_and_names() -> None:
    sv = pytest.importorskip("supervision")
    result = Result(_result(4))
    converted = result.to_supervision()
    assert isinstance(converted, sv.Detections)
    assert list(converted.data["class_name"]) == result.class_names
    back = Detections.from_supervision(converted)
    assert back == result.detections


def test_from_supervision_refuses_what_is_not_supervision() -> None:
    with pytest.raises(TypeError, match=r"from_supervision\(detections\): expected supervision.Detections, got str"):
        Detections.from_supervision("boxes")


def test_without_supervision_the_error_says_what_to_install(monkeypatch) -> None:
    import sys

    from detect_cli.core.errors import AttnDetectError

    monkeypatch.setitem(sys.modules, "supervision", None)  # as if it were not installed
    with pytest.raises(AttnDetectError, match="pip install supervision"):
        Result(_result(2)).to_supervision()
