"""Sliced inference: tile geometry, merging, boxes back in image pixels (a fake detector that finds
the known boxes of a synthetic image), and, with the demo model, the gain on large scenes."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.core.caps import CAPS, Capped
from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import Timing
from detect_cli.core.settings import load_settings, parse_size
from detect_cli.models.detector import PredictOptions
from detect_cli.outputs.records import box_records, result_from_record
from detect_cli.pipeline.slicing import SlicedDetector, SliceOptions, slice_options, starts, tiles
from detect_cli.pipeline.tile_merge import merge_detections
from tests.conftest import SAMPLES
from tests.helpers import make_result

LARGE = SAMPLES / "large"
runner = CliRunner()


# --- tile geometry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "expected"),
    [
        (320, 320, 0.2, [0]),  # exactly one tile
        (200, 320, 0.2, [0]),  # smaller than a tile: one tile, the whole side
        (576, 320, 0.2, [0, 256]),  # the step lands on the far edge: no extra tile
        (1000, 320, 0.2, [0, 256, 512, 680]),  # the last tile shifted back inside, not padded
        (640, 320, 0.0, [0, 320]),
        (641, 320, 0.0, [0, 320, 321]),
    ],
)
def test_starts(length: int, tile: int, overlap: float, expected: list[int]) -> None:
    assert starts(length, tile, overlap) == expected


@pytest.mark.parametrize("size", [(1000, 700), (320, 320), (100, 2000), (1921, 1080), (33, 33)])
@pytest.mark.parametrize("overlap", [0.0, 0.2, 0.5])
def test_tiles_cover_the_image_exactly(size: tuple[int, int], overlap: float) -> None:
    width, height = size
    windows = tiles(width, height, (320, 256), overlap)
    covered = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (x2 - x1, y2 - y1) == (min(320, width), min(256, height))  # every tile a full crop
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs, ys = sorted({int(w[0]) for w in windows}), sorted({int(w[1]) for w in windows})
    assert xs[0] == 0 and xs[-1] + min(320, width) == width and ys[-1] + min(256, height) == height
    for starts_, tile in ((xs, 320), (ys, 256)):  # neighbours share at least the asked overlap
        assert all(b - a <= tile - round(tile * overlap) for a, b in itertools.pairwise(starts_))


@pytest.mark.parametrize(
    ("text", "size"),
    [("320x240", (320, 240)), ("640", (640, 640)), (" 512 X 512 ", (512, 512)), ("auto", None), ("AUTO", None)],
)
def test_parse_size(text: str, size: tuple[int, int] | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("flag", ["10x10", "640x", "big", "0", "-320", "320x99999"])
def test_a_bad_slice_is_a_config_error_naming_the_flag(flag: str) -> None:
    with pytest.raises(ConfigError, match="--slice"):
        load_settings(None, {"slice": flag})


def test_settings_normalise_the_slice() -> None:
    assert load_settings(None, {"slice": "640"}).slice == "640x640"
    assert load_settings(None, {}).slice is None
    with pytest.raises(ConfigError, match="--slice-overlap"):
        load_settings(None, {"slice": "auto", "slice_overlap": 0.95})


# --- a fake detector that sees the synthetic image's rectangles ------------------------------------


class RectFinder:
    """Finds the bright rectangles in what it is given (clipped at its edges, as a model does), as
    class-0 boxes in that image's own pixels; confidence = the share of the rectangle it sees."""

    def __init__(self, image: np.ndarray, full_size: int) -> None:
        self.names = {0: "rect"}
        self.image, self.full_size, self.calls = image, full_size, []

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        self.calls.append([im.shape[:2] for im in images])
        out = []
        for view in images:
            assert np.shares_memory(view, self.image), "tiles must be views of the decoded image, not copies"
            count, _, stats, _ = cv2.connectedComponentsWithStats((view[..., 0] > 0).astype(np.uint8))
            boxes = np.array([(x, y, x + w, y + h) for x, y, w, h, _ in stats[1:count]], np.float32).reshape(-1, 4)
            seen = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / self.full_size**2
            out.append((Detections(boxes, seen, np.zeros(len(boxes))), Timing(0, 1.0, 2.0, 3.0)))
        return out


def synthetic(width: int, height: int, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    for x1, y1, x2, y2 in boxes:
        image[y1:y2, x1:x2] = 255
    return image


OPTIONS = PredictOptions(conf=0.25, imgsz=320, max_det=300)


def test_boxes_come_back_in_image_pixels() -> None:
    known = [(5, 5, 35, 35), (400, 100, 430, 120), (990, 650, 1000, 700), (600, 300, 640, 340), (150, 600, 190, 640)]
    image = synthetic(1000, 700, known)
    finder = RectFinder(image, 30)
    detector = SlicedDetector(finder, SliceOptions((320, 320), overlap=0.2, merge="nms", match="ios"), batch=4)
    ((found, timing),) = detector.predict([image], OPTIONS)
    assert sorted(map(tuple, found.xyxy.astype(int).tolist())) == sorted(known)
    n_tiles = len(tiles(1000, 700, (320, 320), 0.2))
    assert [len(c) for c in finder.calls] == [4] * (n_tiles // 4) + ([n_tiles % 4] if n_tiles % 4 else [])
    assert all(shape == (320, 320) for call in finder.calls for shape in call)
    assert (timing.preprocess, timing.inference) == (n_tiles * 1.0, n_tiles * 2.0)  # the tiles' time, summed


@pytest.mark.parametrize(
    ("merge", "match", "expected"),
    [
        ("nmm", "ios", [(270, 100, 340, 130)]),  # the two cut parts overlap by 32/50: merged back into the whole
        ("nms", "ios", [(288, 100, 340, 130)]),  # one object, but NMS keeps the larger part (52 px of 70) only
        ("nmm", "iou", [(270, 100, 320, 130), (288, 100, 340, 130)]),  # IoU 32/70 < 0.5: two boxes stay
    ],
)
def test_a_box_split_across_tiles(merge: str, match: str, expected: list[tuple]) -> None:
    # tiles [0, 320) and [288, 608): the object spans 270-340, so neither tile sees it whole
    image = synthetic(608, 320, [(270, 100, 340, 130)])
    detector = SlicedDetector(RectFinder(image, 70), SliceOptions((320, 320), overlap=0.1, merge=merge, match=match))
    ((found, _),) = detector.predict([image], OPTIONS)
    assert sorted(map(tuple, found.xyxy.astype(int).tolist())) == expected


def test_the_full_image_pass_is_merged_in() -> None:
    image = synthetic(608, 320, [(270, 100, 340, 130)])
    finder = RectFinder(image, 70)
    detector = SlicedDetector(finder, SliceOptions((320, 320), overlap=0.1, full=True, merge="nms", match="ios"))
    ((found, _),) = detector.predict([image], OPTIONS)
    assert finder.calls[-1] == [(320, 608)]  # the whole image, after the tiles
    assert found.xyxy.astype(int).tolist() == [[270, 100, 340, 130]]  # the full pass saw it whole, and leads


def test_auto_slices_only_images_much_larger_than_the_model() -> None:
    small, large = synthetic(600, 500, [(10, 10, 40, 40)]), synthetic(700, 300, [(10, 10, 40, 40)])
    both = np.concatenate([small.ravel(), large.ravel()])
    small, large = both[: small.size].reshape(small.shape), both[small.size :].reshape(large.shape)
    finder = RectFinder(both, 30)
    detector = SlicedDetector(finder, SliceOptions(None), batch=8)
    results = detector.predict([small, large], OPTIONS)
    # 600 <= 2 x 320: run whole; 700 > 640: tiles of the model's size (320 x 300, the height fits in one)
    assert finder.calls == [[(300, 320)] * 3, [(500, 600)]]
    assert [len(d) for d, _ in results] == [1, 1]


class CappedRectFinder(RectFinder):
    """RectFinder that returns at most `max_det` boxes per pass, the most confident, as a model does."""

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        return [
            (d[np.argsort(-d.confidence, kind="stable")[: options.max_det]], t)
            for d, t in super().predict(images, options)
        ]


def _grid(width: int, height: int, step: int = 20) -> list[tuple[int, int, int, int]]:
    return [(x, y, x + 10, y + 10) for x in range(5, width - 10, step) for y in range(5, height - 10, step)]


def test_a_sliced_image_keeps_more_than_max_det_objects_at_the_defaults() -> None:
    known = _grid(900, 600)  # 45 x 30 = 1,350 objects, at most 16 x 16 in one 320-px tile
    image = synthetic(900, 600, known)
    settings = load_settings(None, {"slice": "320x320"})  # the defaults: --max-det 300, no image cap
    detector = SlicedDetector(CappedRectFinder(image, 10), slice_options(settings))
    ((found, _),) = detector.predict([image], PredictOptions(imgsz=320, max_det=settings.max_det))
    assert settings.max_det == 300 and settings.max_det_image is None
    assert sorted(map(tuple, found.xyxy.astype(int).tolist())) == sorted(known)  # every one, once
    assert found.metadata[CAPS] == Capped(passes=len(detector.windows(image, OPTIONS)), images=1)  # no cap bit


def test_max_det_caps_each_tile_and_max_det_image_the_merged_image() -> None:
    known = _grid(900, 600)
    image = synthetic(900, 600, known)
    tiles_ = SlicedDetector(CappedRectFinder(image, 10), SliceOptions((320, 320)))
    ((per_tile, _),) = tiles_.predict([image], PredictOptions(imgsz=320, max_det=50))
    windows = tiles_.windows(image, OPTIONS)
    assert 50 < len(per_tile) <= 50 * len(windows) < len(known)  # 50 from each tile, duplicates merged
    assert per_tile.metadata[CAPS] == Capped(len(windows), len(windows), 1, 1)  # every tile came back full
    image_cap = SlicedDetector(CappedRectFinder(image, 10), SliceOptions((320, 320), max_det_image=100))
    ((capped, _),) = image_cap.predict([image], PredictOptions(imgsz=320, max_det=300))
    assert len(capped) == 100 and np.all(np.diff(capped.confidence) <= 0)
    assert capped.confidence.min() >= np.sort(RectFinder(image, 10).predict([image], OPTIONS)[0][0].confidence)[-100]
    assert capped.metadata[CAPS] == Capped(len(windows), 0, 1, 0, 1, len(known) - 100)


def test_the_image_cap_holds_for_images_run_whole_and_keeps_the_tiles_aligned() -> None:
    known = _grid(600, 300)
    image = synthetic(600, 300, known)
    whole = SlicedDetector(RectFinder(image, 10), SliceOptions(None, max_det_image=40))  # auto: 600 <= 2 x 320
    ((found, _),) = whole.predict([image], OPTIONS)
    assert len(found) == 40 and found.metadata[CAPS].dropped == len(known) - 40
    tagged = SlicedDetector(RectFinder(image, 10), SliceOptions((320, 320), record_tiles=True, max_det_image=40))
    ((found, _),) = tagged.predict([image], OPTIONS)
    assert len(found) == len(found.extra["tile"]) == 40 and found.metadata[CAPS].images_cut == 1
    for (x1, y1, x2, y2), (t1, u1, t2, u2) in zip(found.xyxy, found.extra["tile"]):  # each box inside the tile named
        assert t1 <= x1 and u1 <= y1 and x2 <= t2 and y2 <= u2


def test_the_run_summary_and_table_say_when_a_cap_bit() -> None:
    from rich.console import Console

    from detect_cli.cli.render import run_table
    from detect_cli.pipeline.run_summary import RunSummary

    summary = RunSummary()
    for caps in (Capped(80, 2, 1, 1), Capped(80, 0, 1, 0, 1, 37), Capped(1, 0, 1, 0)):
        summary.add(make_result(detections=Detections.empty().with_metadata(**{CAPS: caps})))
    assert summary.caps == Capped(161, 2, 3, 1, 1, 37)
    assert summary.as_dict()["caps"]["dropped"] == 37
    console = Console(width=120, record=True)
    console.print(run_table(summary, "demo"))
    text = console.export_text()
    assert "passes that hit --max-det" in text and "2 of 161 (1 image(s))" in text
    assert "boxes cut by --max-det-image" in text and "37 (1 image(s))" in text
    quiet = RunSummary()
    quiet.add(make_result(detections=Detections.empty().with_metadata(**{CAPS: Capped(80, 0, 1, 0)})))
    console = Console(width=120, record=True)
    console.print(run_table(quiet, "demo"))
    assert "caps" not in quiet.as_dict() and "max-det" not in console.export_text()


@pytest.mark.parametrize("value", [0, -5, 2.5, "many"])
def test_a_bad_max_det_image_is_a_config_error_naming_it(value: object) -> None:
    with pytest.raises(ConfigError, match="--max-det-image"):
        load_settings(None, {"max_det_image": value})


def test_records_name_the_tile_only_when_asked() -> None:
    image = synthetic(700, 320, [(600, 100, 640, 130)])
    for record_tiles in (False, True):
        detector = SlicedDetector(RectFinder(image, 30), SliceOptions((320, 320), record_tiles=record_tiles))
        ((found, _),) = detector.predict([image], OPTIONS)
        records = box_records(make_result(detections=found, width=700, height=320))
        if record_tiles:
            assert found.extra["tile"].shape == (len(found), 4)
            x1, _, x2, _ = records[0]["tile"]
            assert x1 <= 600 and 640 <= x2  # the tile that found it holds it
        else:
            assert "tile" not in records[0]


def test_too_many_tiles_is_that_images_error() -> None:
    from detect_cli.core.errors import InputError

    image = np.zeros((2000, 2000, 3), np.uint8)
    detector = SlicedDetector(RectFinder(image, 10), SliceOptions((32, 32), overlap=0.9))
    per_side = len(range(0, 2000 - 32, 32 - round(32 * 0.9))) + 1  # steps of 3 px, the last tile flush
    with pytest.raises(InputError, match=rf"2000x2000 image into {per_side**2:,} tiles \(at most 20,000\)"):
        detector.predict([image], OPTIONS)


# --- merging ----------------------------------------------------------------------------------------


@pytest.mark.slow  # importing torch takes seconds
def test_nms_iou_keeps_what_torchvision_keeps() -> None:
    import torch
    import torchvision

    rng = np.random.default_rng(3)
    corner = rng.uniform(0, 500, (400, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(5, 80, (400, 2))], 1).astype(np.float32)
    scores, classes = rng.permutation(400).astype(np.float32) / 400, rng.integers(0, 3, 400)
    _, kept = merge_detections(Detections(boxes, scores, classes), "nms", "iou", 0.5)
    expected = torchvision.ops.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.5
    ).numpy()
    assert kept.tolist() == expected.tolist()


def test_merge_never_joins_classes_and_keeps_the_leaders_class() -> None:
    boxes = [(0, 0, 10, 10), (1, 0, 11, 10), (0, 1, 10, 11)]
    merged, leaders = merge_detections(Detections(boxes, [0.5, 0.9, 0.7], [0, 0, 1]), "nmm", "iou")
    assert leaders.tolist() == [1, 2]
    assert merged.xyxy.tolist() == [[0, 0, 11, 10], [0, 1, 10, 11]]
    assert merged.class_id.tolist() == [0, 1]


# --- resume fingerprint -----------------------------------------------------------------------------


def test_the_resume_fingerprint_has_slicing_only_when_slicing(yolo_detector) -> None:
    from detect_cli.tasks.resume import fingerprint

    assert not any(k.startswith("slice") for k in fingerprint(load_settings(None, {}), yolo_detector))
    sliced = fingerprint(load_settings(None, {"slice": "auto"}), yolo_detector)
    assert sliced["slice"] == "auto" and sliced["slice_match"] == "ios"


# --- with the demo model ----------------------------------------------------------------------------

DEMO = ["--model", "demo", "--threads", "1", "--no-progress"]


def _evaluate_doc(*extra: str) -> dict:
    result = runner.invoke(app, ["evaluate", str(LARGE), "--labels", str(LARGE / "labels"), *DEMO, "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["summary"]


def _evaluate(*extra: str) -> dict:
    return _evaluate_doc(*extra)["overall"]


@pytest.mark.slow
def test_evaluate_slice_beats_the_full_frame_on_large_scenes() -> None:
    whole, sliced = _evaluate(), _evaluate("--slice", "auto")
    assert whole["map50"] < 0.5 < sliced["map50"]
    assert sliced["map50"] > whole["map50"] + 0.3 and sliced["recall"] > whole["recall"]


@pytest.mark.slow
def test_evaluate_on_the_shipped_large_samples_does_not_drop_without_the_image_cap() -> None:
    """The old default capped each merged image at 300 boxes (`--max-det-image 300` now): without it,
    the figures are at least as good, and the JSON says what the cap cut when it is asked for."""
    capped, uncapped = _evaluate_doc("--slice", "auto", "--max-det-image", "300"), _evaluate_doc("--slice", "auto")
    assert uncapped["overall"]["map50"] >= capped["overall"]["map50"] > 0.5
    assert uncapped["overall"]["map50_95"] >= capped["overall"]["map50_95"]
    assert uncapped["overall"]["recall"] >= capped["overall"]["recall"]
    assert "caps" not in uncapped and capped["caps"]["images_cut"] == 2 and capped["caps"]["dropped"] > 0


@pytest.mark.slow
def test_a_dense_generated_scene_keeps_every_object_sliced_at_the_defaults(tmp_path: Path) -> None:
    from detect_cli.core.matching import match
    from detect_cli.demo.large_scenes import DENSE, make_large_scene

    scene, labels = make_large_scene(np.random.default_rng([7, 0]), 3000, 2000, DENSE)
    assert len(labels) > 400
    path = tmp_path / "dense.png"
    cv2.imwrite(str(path), scene)
    truth = Detections([box[1:] for box in labels], np.ones(len(labels)), [box[0] for box in labels])

    def detect(*extra: str) -> tuple[dict, str]:
        result = runner.invoke(app, ["detect", str(path), *DEMO, "--slice", "auto", "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout), result.stderr

    doc, stderr = detect()
    found = doc["images"][0]["detections"]
    boxes = Detections([d["box"] for d in found], [d["confidence"] for d in found], [d["class_id"] for d in found])
    assert len(found) > 300 and len(match(truth, boxes, 0.5)) > 300  # true objects beyond the old cap of 300
    assert "caps" not in doc["summary"] and "max-det" not in stderr
    doc, stderr = detect("--max-det-image", "300")  # the cap the user asks for: on the merged image
    assert len(doc["images"][0]["detections"]) == 300
    assert doc["summary"]["caps"]["dropped"] == len(found) - 300
    assert "boxes cut by --max-det-image" in stderr and f"{len(found) - 300:,} (1 image(s))" in stderr
    doc, stderr = detect("--max-det", "5")  # the model's cap: on each tile
    assert 5 < len(doc["images"][0]["detections"]) <= 5 * doc["summary"]["caps"]["passes"]
    assert doc["summary"]["caps"]["passes_full"] > 0 and "passes that hit --max-det" in stderr


@pytest.mark.slow
def test_detect_slice_resume_gives_each_image_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for image in sorted(LARGE.glob("*.jpg")):
        shutil.copy(image, folder / image.name)
    out = tmp_path / "out.jsonl"
    args = ["detect", str(folder), *DEMO, "--slice", "auto", "--slice-tiles", "--out", str(out), "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    first = out.read_text().splitlines()
    out.write_text(first[0] + "\n" + first[1][: len(first[1]) // 2])  # killed while writing the second record
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in again] == [0, 1]
    assert again[1]["detections"] == json.loads(first[1])["detections"]  # the same boxes, each with its tile
    assert again[1]["detections"] and all(len(d["tile"]) == 4 for d in again[1]["detections"])
    changed = runner.invoke(app, [*args[:-3], "--slice-merge", "nmm", "--out", str(out), "--resume", "--quiet"])
    assert changed.exit_code == 2 and "slice_merge" in changed.stderr  # other slicing: refused


@pytest.mark.slow
def test_a_sliced_detections_map_comes_from_its_tile_and_sits_on_its_box() -> None:
    from detect_cli.attention.maps import figures, map_size
    from detect_cli.attention.sliced import explain_sliced
    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model

    image = cv2.imread(str(LARGE / "large_00001.jpg"))
    detector = load_detector(resolve_model("demo"), device="cpu", threads=1)
    sliced = SlicedDetector(detector, SliceOptions(None, record_tiles=True), batch=4)
    options = PredictOptions(conf=0.25, imgsz=320)
    explained, _ = explain_sliced(sliced, image, options)
    ((plain, _),) = sliced.predict([image], options)
    assert explained.detections == plain and len(plain) > 20  # the hooked pass finds what the plain one finds
    height, width = image.shape[:2]
    scale = map_size(height, width)[0] / height
    tiles = explained.detections.extra["tile"]
    for (box, _, _), tile, heat in zip(explained.detections, tiles, explained.maps["attention"]):
        x1, y1, x2, y2 = (max(0, round(float(v) * scale) + grow) for v, grow in zip(tile, (-1, -1, 1, 1)))
        assert heat.sum() > 0 and heat[y1:y2, x1:x2].sum() == pytest.approx(heat.sum())  # from its own tile only
        peak_x, peak_y = figures(heat, box, (height, width)).peak_xy
        cell = 32  # the attention block's grid: one cell of the model's stride
        assert box[0] - cell <= peak_x <= box[2] + cell and box[1] - cell <= peak_y <= box[3] + cell


@pytest.mark.slow
def test_ray_actors_get_the_slicing_with_their_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a cluster: the arguments the driver hands Ray build an actor that slices as a local run does."""
    import ray

    from detect_cli.inputs.images import ReadOptions, read_image
    from detect_cli.inputs.sources import Source
    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model
    from detect_cli.pipeline.ray import actor as ray_engine
    from detect_cli.pipeline.ray.actor import DetectActor, actor_arguments, with_caps
    from detect_cli.pipeline.ray.cluster import RayOptions

    monkeypatch.setattr(ray, "put", lambda data: data)  # the object store, as plain bytes
    monkeypatch.setattr(ray, "get", lambda data: data)
    monkeypatch.setattr(ray_engine, "_unpack_model", lambda payload, ref, into: Path(resolve_model("demo").path))
    detector = load_detector(resolve_model("demo"), device="cpu", threads=1)
    slicing, options = SliceOptions(None), PredictOptions(conf=0.25, imgsz=320)
    args = actor_arguments(detector, options, ReadOptions(), 2, RayOptions(threads_per_actor=1), slicing=slicing)
    actor = DetectActor(**args)
    assert isinstance(actor.detector, SlicedDetector) and actor.detector.slicing == slicing
    path = LARGE / "large_00000.jpg"
    columns = actor(
        {
            "index": np.array([0]),
            "ref": np.array([str(path)]),
            "name": np.array([path.name]),
            "is_url": np.array([False]),
            "error": np.array([""]),
        }
    )
    image = read_image(Source(str(path), path.name, False), ReadOptions())  # as the actor reads it
    ((local, _),) = SlicedDetector(detector, slicing, 2).predict([image], options)
    assert len(local) > 20
    on_ray = result_from_record(json.loads(columns["record"][0]), detector.names, columns["name"][0])
    assert on_ray.name == path.name and np.array_equal(on_ray.detections.class_id, local.class_id)
    assert np.allclose(on_ray.detections.xyxy, local.xyxy, atol=0.006)  # records round boxes to 0.01 px
    assert np.allclose(on_ray.detections.confidence, local.confidence, atol=6e-5)
    assert with_caps(on_ray, columns["caps"][0]).detections.metadata[CAPS] == local.metadata[CAPS]


def test_the_cap_tally_comes_back_from_ray_with_the_boxes() -> None:
    from detect_cli.pipeline.ray.actor import _rows, with_caps

    caps = Capped(80, 3, 1, 1, 1, 12)
    result = make_result(detections=Detections([(1, 2, 3, 4)], [0.9], [0]).with_metadata(**{CAPS: caps}))
    columns = _rows([result])
    back = with_caps(result_from_record(json.loads(columns["record"][0]), result.names), columns["caps"][0])
    assert back.detections == result.detections and back.detections.metadata[CAPS] == caps
