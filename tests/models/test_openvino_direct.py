"""The torch-free OpenVINO runner gives Ultralytics' boxes, and the first-run check verifies it, not a proxy.

Both demo models are exported once; on images read from files of odd kinds (as our image reader
delivers them), our adapter and Ultralytics' own wrapper of the same export must agree to the pixel.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detect_cli.demo.scenes import make_scene
from detect_cli.inputs.images import read_image
from detect_cli.inputs.sources import iter_sources
from detect_cli.models import runtime
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.export import FORMATS, export_model, load_exported
from detect_cli.models.lookup import resolve_model
from detect_cli.models.openvino_direct import AdapterRefused, OpenVINODetector, open_openvino
from detect_cli.models.runtime_cache import CACHE_ENV

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO is a dependency"),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each demo model, PyTorch and its OpenVINO export at 320."""
    out = {}
    for spec in ("demo", "demo-rtdetr"):
        detector = load_detector(resolve_model(spec), device="cpu")
        folder = export_model(detector, FORMATS["openvino"], tmp_path_factory.mktemp(spec), imgsz=320)
        out[spec] = (detector, folder)
    return out


def _scene(seed: int) -> np.ndarray:
    return make_scene(np.random.default_rng([11, seed]))[0]


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("odd")
    rgb = Image.fromarray(_scene(0)[..., ::-1])
    rgb.resize((5000, 1)).save(folder / "1x5000.png")
    rgb.resize((3, 7)).save(folder / "7x3.png")
    rgb.convert("L").save(folder / "gray.png")
    gray16 = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "16bit.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    rgb.crop((0, 0, 320, 200)).save(folder / "exif.jpg", exif=exif, quality=95)
    Image.fromarray(_scene(1)[..., ::-1]).crop((10, 0, 330, 250)).save(folder / "wide.jpg", quality=95)
    images = {p.stem: read_image(next(iter_sources([str(p)]))) for p in sorted(folder.iterdir())}
    assert images["exif"].shape == (320, 200, 3)  # delivered upright
    assert images["16bit"].dtype == np.uint8 and images["gray"].shape == (320, 320, 3)
    return {**images, "scene": _scene(2)}


@pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
@pytest.mark.parametrize(
    "options",
    [
        PredictOptions(conf=0.01, imgsz=320),
        PredictOptions(conf=0.3, imgsz=320, max_det=2, classes=(0, 1, 4)),
        PredictOptions(conf=0.3, imgsz=320, class_conf=((0, 0.8), (3, 0.02))),  # --conf 0.3,circle=0.8,star=0.02
    ],
    ids=["low-conf", "classes-and-max-det", "per-class-conf"],
)
def test_our_runner_gives_ultralytics_boxes(models: dict, odd_images: dict, spec: str, options: PredictOptions) -> None:
    detector, folder = models[spec]
    theirs = load_exported(folder, detector.ref.family)
    ours = open_openvino(next(folder.glob("*.xml")), detector)
    assert isinstance(ours, OpenVINODetector) and ours.input_hw == (320, 320) and ours.names == detector.names
    compared = 0
    for name, image in odd_images.items():
        ((a, _),) = theirs.predict([image], options)
        ((b, timing),) = ours.predict([image], options)
        assert len(a) == len(b), name
        assert np.allclose(a.xyxy, b.xyxy, atol=1e-3), name
        assert np.allclose(a.confidence, b.confidence, atol=1e-5) and np.array_equal(a.class_id, b.class_id), name
        assert timing.inference > 0
        for class_id, value in options.class_conf:
            assert (b.confidence[b.class_id == class_id] >= value).all(), name
        compared += len(a)
    assert compared >= (20 if options.max_det > 2 else 4)  # the comparison saw boxes, not only empty sets


def test_a_batch_is_the_same_as_one_image_at_a_time(models: dict, odd_images: dict) -> None:
    detector, folder = models["demo"]
    ours = open_openvino(next(folder.glob("*.xml")), detector)
    images = list(odd_images.values())
    options = PredictOptions(conf=0.05, imgsz=320)
    batched = ours.predict(images, options)
    for image, (dets, _) in zip(images, batched, strict=True):
        ((alone, _),) = ours.predict([image], options)
        assert np.array_equal(alone.xyxy, dets.xyxy)


def test_requests_in_flight_on_the_throughput_model_give_the_same_boxes(
    models: dict, odd_images: dict, tmp_path: Path
) -> None:
    """The pool widened to the throughput-compiled model (imported from the latency compile's cache blob,
    which it leaves alone) with several requests running: each image's boxes are those of one synchronous
    request on the latency model, bit for bit, in order."""
    import shutil

    detector, folder = models["demo"]
    xml = next(folder.glob("*.xml"))
    compiled = tmp_path / "compiled"
    alone = open_openvino(xml, detector, compiled=compiled)
    blobs = sorted(compiled.iterdir())
    images = [*odd_images.values()] * 3
    options = PredictOptions(conf=0.05, imgsz=320)
    expected = [alone.predict([image], options)[0][0] for image in images]
    ours = open_openvino(xml, detector, compiled=compiled)
    ours._pool._widen_after = 1
    got = [dets for dets, _ in ours.predict(images, options)]
    assert ours._pool.widened
    assert sorted(compiled.iterdir()) == blobs  # no second blob: the cache entry stays as verified
    for a, b in zip(expected, got, strict=True):
        assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.confidence, b.confidence)
        assert np.array_equal(a.class_id, b.class_id)
    shutil.rmtree(compiled)


def test_an_export_it_cannot_run_is_refused(models: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    detector, folder = models["demo"]
    monkeypatch.setattr(detector, "end2end_capable", False)  # as a model with only the NMS head
    with pytest.raises(AdapterRefused, match="end-to-end head"):
        open_openvino(next(folder.glob("*.xml")), detector)


def _any_gain(patch: pytest.MonkeyPatch) -> None:
    """Which runner is verified is the subject, not speed: on a loaded machine a first run may time
    OpenVINO under torch (0.4x at load 4) and keep PyTorch, which is right but not what is tested."""
    from detect_cli.models import runtime_trial

    patch.setattr(runtime_trial, "MIN_GAIN", 0.0)
    patch.setattr(runtime_trial, "GOOD_ENOUGH", 0.0)


def test_the_first_run_verifies_our_runner(models: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    detector, _ = models["demo"]
    _any_gain(monkeypatch)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    chosen, choice = runtime.choose_backend(detector, "auto", PredictOptions(imgsz=320))
    assert isinstance(chosen, OpenVINODetector) and choice.runner == "direct"
    (decision,) = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "backends").glob("*/decision.json")]
    assert decision["runner"] == decision["checked"]["runner"] == "direct"
    assert decision["checked"]["f1"] >= 0.99 and decision["checked"]["boxes"] >= 5
    assert decision["checked"]["input_hw"] == [320, 320] and decision["checked"]["gate"]["iou"] == 0.9


def test_a_runner_with_other_boxes_falls_back_to_ultralytics_and_says_why(
    models: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector, _ = models["demo"]
    real = OpenVINODetector.predict

    def shifted(self, images, options):  # a letterbox off by 12 pixels: the gate must see it
        from detect_cli.core.detections import Detections

        out = real(self, images, options)
        return [(Detections(d.xyxy + 12, d.confidence, d.class_id), t) for d, t in out]

    monkeypatch.setattr(OpenVINODetector, "predict", shifted)
    _any_gain(monkeypatch)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    chosen, choice = runtime.choose_backend(detector, "auto", PredictOptions(imgsz=320))
    assert choice.backend == "openvino" and choice.runner == "ultralytics"
    assert not isinstance(chosen, OpenVINODetector)
    assert "through Ultralytics; attn-detect's own runner: not the same boxes (F1 0.000" in choice.reason
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    _any_gain(monkeypatch)
    _, again = runtime.choose_backend(detector, "auto", PredictOptions(imgsz=320))
    assert again.cached and again.runner == "ultralytics"  # remembered, with its reason


@pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
def test_the_max_det_tally_is_the_pytorch_models(models: dict, odd_images: dict, spec: str) -> None:
    """What the run table says about --max-det (core/caps.py) does not depend on the runtime."""
    from detect_cli.core.caps import CAPS

    detector, folder = models[spec]
    ours = open_openvino(next(folder.glob("*.xml")), detector)
    for max_det in (1, 2, 30, 300):
        options = PredictOptions(conf=0.01, imgsz=320, max_det=max_det)
        assert ours.pass_cap(options) == detector.pass_cap(options), max_det
        ((torch_dets, _),) = detector.predict([odd_images["scene"]], options)
        ((dets, _),) = ours.predict([odd_images["scene"]], options)
        assert dets.metadata[CAPS] == torch_dets.metadata[CAPS], max_det


# --- at the picture's own shape (a dynamic export, reshaped per input shape) -------------------------------------

OWN_SHAPES = [(640, 480), (1280, 720), (480, 640)]  # (width, height): 4:3, 16:9, portrait


@pytest.fixture(scope="module")
def dynamic(models: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each demo model's OpenVINO export with dynamic shapes, as the first run makes it."""
    out = {}
    for spec, (detector, _) in models.items():
        folder = export_model(detector, FORMATS["openvino"], tmp_path_factory.mktemp(spec), imgsz=320, dynamic=True)
        out[spec] = open_openvino(next(folder.glob("*.xml")), detector)
    return out


def _same_boxes(a, b) -> None:
    from detect_cli.core.matching import match

    pairs = match(a, b, 0.98)
    assert len(pairs) == len(a) == len(b), (len(pairs), len(a), len(b))
    assert np.abs(a.confidence[pairs.a] - b.confidence[pairs.b]).max(initial=0) < 0.01


@pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
@pytest.mark.parametrize("letterbox", ["rect", "square"])
def test_at_each_letterbox_our_runner_gives_pytorchs_boxes(
    models: dict, dynamic: dict, spec: str, letterbox: str
) -> None:
    """4:3, 16:9 and portrait scenes: the reshaped export and the PyTorch model at the same letterbox."""
    from detect_cli.models.letterbox import input_hw

    detector, _ = models[spec]
    ours = dynamic[spec]
    assert ours.reshapable and ours.input_hw == (320, 320)
    options = PredictOptions(conf=0.2, imgsz=320, letterbox=letterbox)
    compared = 0
    for k, size in enumerate(OWN_SHAPES):
        image = make_scene(np.random.default_rng([31, k]), size)[0]
        expected_hw = input_hw(image.shape[:2], 320, stride=32, rect=letterbox == "rect")
        assert ours.input_for(image.shape[:2], options) == expected_hw
        ((theirs, _),) = detector.predict([image], options)
        ((mine, _),) = ours.predict([image], options)
        _same_boxes(theirs, mine)
        compared += len(theirs)
    assert compared >= 6


def test_each_shape_is_compiled_once_and_only_a_few_are_kept(models: dict, dynamic: dict) -> None:
    from detect_cli.models.openvino_direct import KEEP_SHAPES

    detector, _ = models["demo"]
    ours = open_openvino(next(Path(dynamic["demo"].ref.path).glob("*.xml")), detector)
    options = PredictOptions(conf=0.2, imgsz=320, letterbox="rect")
    sizes = [(640, 480), (640, 480), (480, 640), (640, 360), (640, 480), (320, 320), (960, 320), (320, 960), (400, 300)]
    for size in sizes:
        ours.predict([np.full((size[1], size[0], 3), 90, np.uint8)], options)
    compiled = ours._shapes.compiled  # the shapes other than the export's own square
    assert len(compiled) == len(set(compiled))  # met again: not compiled again
    assert set(compiled) == {(256, 320), (320, 256), (192, 320), (128, 320), (320, 128)}
    assert len(ours._shapes._pools) <= KEEP_SHAPES
    ((boxes, _),) = ours.predict([make_scene(np.random.default_rng([31, 0]), (640, 480))[0]], options)
    ((again, _),) = dynamic["demo"].predict([make_scene(np.random.default_rng([31, 0]), (640, 480))[0]], options)
    assert np.array_equal(boxes.xyxy, again.xyxy)  # recompiled after eviction: the same boxes


def test_a_static_export_runs_at_its_square(models: dict) -> None:
    detector, folder = models["demo"]
    ours = open_openvino(next(folder.glob("*.xml")), detector)
    assert not ours.reshapable
    assert ours.input_for((480, 640), PredictOptions(imgsz=320, letterbox="rect")) == (320, 320)


def test_compiled_shapes_are_kept_and_checked_before_they_are_read(models: dict, dynamic: dict, tmp_path: Path) -> None:
    """A later run imports a shape compiled by an earlier one; a blob changed in between is removed first."""
    from detect_cli.models.shape_cache import LISTING

    detector, _ = models["demo"]
    xml = next(Path(dynamic["demo"].ref.path).glob("*.xml"))
    shapes = tmp_path / "entry" / "shapes"
    options = PredictOptions(conf=0.2, imgsz=320, letterbox="rect")
    image = make_scene(np.random.default_rng([31, 2]), (640, 480))[0]
    first = open_openvino(xml, detector, compiled=tmp_path / "entry" / "compiled", shapes=shapes)
    ((boxes, _),) = first.predict([image], options)
    blobs = sorted(p.name for p in shapes.iterdir() if p.name != LISTING)
    assert len(blobs) == 1 and blobs[0] in json.loads((shapes / LISTING).read_text())
    stamp = (shapes / blobs[0]).stat().st_mtime_ns
    again = open_openvino(xml, detector, compiled=tmp_path / "entry" / "compiled", shapes=shapes)
    ((same, _),) = again.predict([image], options)
    assert np.array_equal(boxes.xyxy, same.xyxy) and (shapes / blobs[0]).stat().st_mtime_ns == stamp  # imported
    (shapes / blobs[0]).write_bytes(b"not what was compiled")
    third = open_openvino(xml, detector, compiled=tmp_path / "entry" / "compiled", shapes=shapes)
    ((after, _),) = third.predict([image], options)
    assert np.array_equal(boxes.xyxy, after.xyxy)
    assert (shapes / blobs[0]).read_bytes() != b"not what was compiled"  # removed, compiled again
