"""--format coco-dataset: the file loads in faster-coco-eval and scores the run's own detections as mAP 1.0."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from faster_coco_eval import COCO, COCOeval_faster

from detect_cli.core.results import ImageResult
from detect_cli.outputs.formats import open_sink
from detect_cli.outputs.label_formats import LabelOptions
from tests.outputs.test_label_formats import META, frames, stills, write


def test_coco_dataset_loads_and_scores_the_runs_own_detections_as_map_1(tmp_path: Path) -> None:
    results = stills(tmp_path) + frames(3)
    path = tmp_path / "dataset.json"
    path.write_text(write("coco-dataset", results, image_root="https://host/photos/"))
    results_file = json.loads(write_coco_results(results))  # the same run's detections, as `--format coco` has them
    doc = json.loads(path.read_text())
    assert [im["file_name"] for im in doc["images"]] == [
        "a.jpg",
        "sub/b.png",
        "c.jpg",
        "c.png",
        "empty.jpg",
        "clip/frame_000000.jpg",
        "clip/frame_000002.jpg",
        "clip/frame_000004.jpg",
    ]
    assert doc["images"][1]["coco_url"] == "https://host/photos/sub/b.png"
    assert doc["videos"] == [{"id": 1, "name": "clip.mp4", "width": 320, "height": 240}]
    assert [(im.get("video_id"), im.get("frame_id")) for im in doc["images"][-3:]] == [(1, 0), (1, 2), (1, 4)]
    tracked = [a for a in doc["annotations"] if "track_id" in a]
    assert [a["track_id"] for a in tracked] == [7, 9, 7, 9] and tracked[0]["attributes"] == {"track_id": 7}
    assert all("score" in a for a in doc["annotations"])

    gt = COCO(str(path))
    by_position = {old["id"]: new["id"] for old, new in zip(results_file["images"], doc["images"], strict=True)}
    detections = [{**a, "image_id": by_position[a["image_id"]]} for a in results_file["annotations"]]
    evaluator = COCOeval_faster(gt, gt.loadRes(detections), "bbox", print_function=lambda *a, **k: None)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)


def write_coco_results(results: list[ImageResult]) -> str:
    stream = io.StringIO()
    sink = open_sink("coco", stream, copy.deepcopy(META))
    for r in results:
        sink.write(r)
    sink.close(None)
    return stream.getvalue()


def test_coco_dataset_streams_its_images(tmp_path: Path) -> None:
    stream = io.StringIO()
    sink = open_sink("coco-dataset", stream, copy.deepcopy(META), labels=LabelOptions())
    sink.write(stills(tmp_path)[0])
    assert '"file_name":"a.jpg"' in stream.getvalue()  # on its way out before the run ends
    sink.close(None)
    assert json.loads(stream.getvalue())["images"][0]["file_name"] == "a.jpg"
