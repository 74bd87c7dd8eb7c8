"""The loaded model (models.py): loading safely, predicting into our types, image size, classes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.errors import ConfigError, ModelLoadError
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.lookup import resolve_model
from tests.conftest import SAMPLES, TEST_IMGSZ


def test_truncated_checkpoint_is_a_model_error(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(checkpoints["yolo"].read_bytes()[:200_000])
    with pytest.raises(ModelLoadError):
        load_detector(resolve_model(str(cut)))


def test_checkpoint_loads_with_right_family(checkpoints: dict[str, Path]) -> None:
    detector = load_detector(resolve_model(str(checkpoints["rtdetr"])), device="cpu")
    assert detector.ref.family == "rtdetr" and type(detector.network()).__name__ == "RTDETRDetectionModel"
    assert not detector.runs_nms(PredictOptions(nms=True))


def test_yaml_model_warns_random_weights(yolo_detector) -> None:
    assert any("RANDOM" in n for n in yolo_detector.notes)


def test_yolo26_defaults_to_nms_free_head(yolo_detector) -> None:
    assert yolo_detector.end2end_capable
    assert not yolo_detector.runs_nms(PredictOptions())
    assert yolo_detector.runs_nms(PredictOptions(nms=True))


def test_nms_flag_switches_the_head(yolo_detector) -> None:
    import cv2

    image = cv2.imread(str(SAMPLES / "bus.jpg"))
    free = yolo_detector.predict([image], PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=50))[0][0]
    assert yolo_detector.predictor.model.end2end is True
    nms = yolo_detector.predict([image], PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=50, nms=True))[0][0]
    assert yolo_detector.predictor.model.end2end is False
    assert len(free) == 50 and len(nms) <= 50
    assert free != nms


def test_predict_returns_our_types_in_original_pixels(yolo_detector) -> None:
    import cv2

    from detect_cli.core.detections import Detections

    image = cv2.imread(str(SAMPLES / "bus.jpg"))
    ((dets, timing),) = yolo_detector.predict([image], PredictOptions(conf=0.0, imgsz=TEST_IMGSZ, max_det=20))
    assert isinstance(dets, Detections) and len(dets) == 20
    assert isinstance(dets.xyxy, np.ndarray)
    height, width = image.shape[:2]
    assert dets.xyxy[:, [0, 2]].max() <= width + 1 and dets.xyxy[:, [1, 3]].max() <= height + 1
    assert timing.inference > 0


@pytest.mark.slow  # loads and runs a model
def test_torch_leaves_a_core_free_unless_threads_are_set() -> None:
    """As the stock Ultralytics loop: every core but one (at least one); an explicit thread count is
    kept after predict too, although Ultralytics' select_device resets torch at predictor set-up."""
    import torch

    image = np.zeros((64, 64, 3), np.uint8)
    try:
        detector = load_detector(resolve_model("yolo26n.yaml"), device="cpu")
        detector.predict([image], PredictOptions(imgsz=64))
        assert torch.get_num_threads() == max(1, (os.cpu_count() or 1) - 1)
        wanted = max(1, (os.cpu_count() or 1) - 1) + 1
        detector = load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=wanted)
        detector.predict([image], PredictOptions(imgsz=64))
        assert torch.get_num_threads() == wanted
    finally:
        load_detector(resolve_model("yolo26n.yaml"), device="cpu", threads=1)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(["person", "bus"], (0, 5)), (["5"], (5,)), (["BUS", "bus"], (5,))],
)
def test_class_ids(yolo_detector, wanted: list[str], expected: tuple[int, ...]) -> None:
    assert yolo_detector.class_ids(wanted) == expected


def test_unknown_class_lists_close_matches(yolo_detector) -> None:
    with pytest.raises(ConfigError, match=r"did you mean.*person"):
        yolo_detector.class_ids(["persn"])


class TestUntrustedModelFiles:
    """A downloaded checkpoint or YAML must not run code while loading (a marker file stays absent)."""

    @pytest.fixture
    def marker(self, tmp_path: Path) -> Path:
        return tmp_path / "PWNED"

    @pytest.fixture
    def evil_pt(self, tmp_path: Path, marker: Path, checkpoints: dict[str, Path]) -> Path:
        import torch

        class Payload:
            def __reduce__(self):
                return (os.mkdir, (str(marker),))

        checkpoint = torch.load(checkpoints["yolo"], map_location="cpu", weights_only=False)
        checkpoint["payload"] = Payload()
        path = tmp_path / "downloaded.pt"
        torch.save(checkpoint, path)
        return path

    @pytest.fixture
    def evil_yaml(self, tmp_path: Path, marker: Path) -> Path:
        import ultralytics

        stock = Path(ultralytics.__file__).parent / "cfg" / "models" / "26" / "yolo26.yaml"
        payload = f"activation: __import__('os').mkdir({str(marker)!r}) or __import__('torch').nn.SiLU()\n"
        path = tmp_path / "downloaded-yolo26n.yaml"
        path.write_text(stock.read_text().replace("nc: 80", "nc: 80\n" + payload, 1))
        return path

    @pytest.mark.slow  # its fixture (by name) saves a checkpoint and builds a model
    @pytest.mark.parametrize("fixture", ["evil_pt", "evil_yaml"])
    def test_refused_and_nothing_runs(self, request: pytest.FixtureRequest, fixture: str, marker: Path) -> None:
        path = request.getfixturevalue(fixture)
        with pytest.raises(ModelLoadError, match=r"refused to load .*--trust-model") as info:
            load_detector(resolve_model(str(path)), device="cpu")
        assert not marker.exists()
        assert info.value.exit_code == 4

    def test_trust_model_is_the_knowing_opt_out(self, evil_pt: Path, marker: Path) -> None:
        load_detector(resolve_model(str(evil_pt)), device="cpu", trusted=True)
        assert marker.is_dir()  # the payload ran: what the default refused was real

    def test_cli_says_it_in_one_line(self, evil_pt: Path, marker: Path) -> None:
        from typer.testing import CliRunner

        from detect_cli.cli.app import app

        result = CliRunner().invoke(app, ["detect", str(SAMPLES / "bus.jpg"), "--model", str(evil_pt)])
        assert result.exit_code == 4 and not marker.exists()
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--trust-model" in lines[0] and result.stdout == ""

    @pytest.mark.parametrize("spec", ["demo", "demo-rtdetr", "yolo", "rtdetr"])
    def test_shipped_and_saved_checkpoints_load_safely(self, spec: str, checkpoints: dict[str, Path]) -> None:
        ref = resolve_model(str(checkpoints[spec]) if spec in checkpoints else spec)
        assert load_detector(ref, device="cpu").names


class TestImageSize:
    @pytest.mark.slow  # loads the demo models
    @pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
    def test_defaults_to_the_training_size(self, spec: str) -> None:
        from detect_cli.core.settings import load_settings

        detector = load_detector(resolve_model(spec), device="cpu")
        assert load_settings().imgsz is None
        assert detector.native_imgsz == 320 and detector.run_imgsz(None) == (320, None)
        assert detector.run_imgsz(640) == (640, None)  # a flag still overrides

    def test_bare_yaml_runs_at_640(self, yolo_detector) -> None:
        assert yolo_detector.run_imgsz(None) == (640, None)

    @pytest.mark.parametrize(("asked", "runs"), [(33, 64), (64, 64), (100, 128), (321, 352)])
    def test_rounded_as_ultralytics_rounds_and_said(self, yolo_detector, asked: int, runs: int) -> None:
        from ultralytics.utils.checks import check_imgsz

        size, message = yolo_detector.run_imgsz(asked)
        assert size == runs == check_imgsz(asked, stride=32)
        assert (message is None) == (asked == runs)
        if message:
            assert f"--imgsz {asked} rounded up to {runs}" in message


def test_a_pass_cap_bites_only_where_the_model_could_return_more(yolo_detector, rtdetr_detector) -> None:
    """RT-DETR returns at most one box per query (rtdetr-l: 300): --max-det 300 can never cut it."""
    from detect_cli.models.detector import PredictOptions

    assert yolo_detector.pass_cap(PredictOptions(max_det=300)) == 300
    assert rtdetr_detector.pass_cap(PredictOptions(max_det=300)) is None
    assert rtdetr_detector.pass_cap(PredictOptions(max_det=100)) == 100


def test_per_class_thresholds_predict_at_the_lowest_and_keep_each_class_its_own() -> None:
    from detect_cli.core.detections import Detections

    options = PredictOptions(conf=0.3, class_conf=((0, 0.8), (2, 0.1)))
    assert options.floor == 0.1
    dets = Detections(np.zeros((6, 4)), np.array([0.9, 0.5, 0.35, 0.2, 0.15, 0.05]), np.array([0, 0, 1, 1, 2, 2]))
    kept = options.keep(dets)
    assert kept.confidence.tolist() == pytest.approx([0.9, 0.35, 0.15]) and kept.class_id.tolist() == [0, 1, 2]
    assert PredictOptions(conf=0.3).keep(dets) is dets  # one threshold: the model's own filter is enough


def test_unknown_per_class_name_is_refused_with_close_matches(yolo_detector) -> None:
    from dataclasses import replace

    from detect_cli.core.settings import load_settings
    from detect_cli.models.open import predict_options

    settings = load_settings(None, {"conf": "0.3,persn=0.5,car=0.2"})
    with pytest.raises(ConfigError, match="--conf: unknown class 'persn'") as caught:
        predict_options(settings, yolo_detector)
    assert "person" in (caught.value.hint or "")
    options = predict_options(replace(settings, class_conf=(("person", 0.5), ("2", 0.2))), yolo_detector)
    assert options.class_conf == ((0, 0.5), (2, 0.2)) and options.floor == 0.2


def test_agnostic_nms_reaches_ultralytics_nms(yolo_detector, monkeypatch: pytest.MonkeyPatch) -> None:
    """--agnostic-nms is Ultralytics' agnostic_nms on the NMS path (its NMS is theirs; random weights give
    boxes of one class only, so the effect itself cannot be seen here)."""
    import cv2

    model = yolo_detector._ultralytics()
    seen: list[dict] = []
    original = model.predict
    monkeypatch.setattr(model, "predict", lambda *a, **kw: seen.append(kw) or original(*a, **kw))
    image = cv2.imread(str(SAMPLES / "bus.jpg"))
    for agnostic in (False, True):
        yolo_detector.predict([image], PredictOptions(imgsz=TEST_IMGSZ, nms=True, agnostic=agnostic))
    assert [kw["agnostic_nms"] for kw in seen] == [False, True]
    assert yolo_detector.predictor.args.agnostic_nms is True


# --- the picture's own shape ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "letterbox", "rect"),
    [("yolo", "auto", True), ("rtdetr", "auto", False), ("rtdetr", "rect", True), ("yolo", "square", False)],
)
def test_auto_letterbox_is_rect_for_yolo_and_square_for_rtdetr(family: str, letterbox: str, rect: bool) -> None:
    from detect_cli.models.detector import runs_rect

    assert runs_rect(family, letterbox) is rect


def _unloaded(family: str, kind: str, *, reshapable: bool = False, runner: bool = False):
    """A detector as the runtime choice hands it on (built by keyword; nothing loaded)."""
    from detect_cli.models.detector import Detector
    from detect_cli.models.lookup import ModelRef
    from detect_cli.models.openvino_direct import OpenVINODetector

    made = OpenVINODetector if runner else Detector
    ref = ModelRef("m", "m.pt" if kind == "weights" else "m_openvino_model", family, kind)
    backend = "openvino" if kind == "exported" else "torch"
    return made(
        ref=ref,
        names={0: "a"},
        device="cpu",
        half=False,
        end2end_capable=True,
        load_s=0.0,
        backend=backend,
        reshapable=reshapable,
    )


@pytest.mark.parametrize(
    ("family", "kind", "reshapable", "runner", "letterbox", "ran"),
    [
        ("yolo", "weights", False, False, "auto", "rect"),
        ("rtdetr", "weights", False, False, "auto", "square"),
        ("rtdetr", "weights", False, False, "rect", "rect"),
        ("yolo", "weights", False, False, "square", "square"),
        ("yolo", "exported", False, False, "auto", "square"),  # a static export: the square, asked or not
        ("yolo", "exported", True, False, "auto", "rect"),  # dynamic, on Ultralytics' wrapper
        ("rtdetr", "exported", True, False, "rect", "square"),  # the wrapper stretches RT-DETR to its square
        ("rtdetr", "exported", True, True, "rect", "rect"),  # our runner reshapes it
        ("yolo", "exported", False, True, "rect", "square"),
        ("yolo", "exported", True, True, "square", "square"),
    ],
)
def test_the_letterbox_that_ran_is_the_one_pictures_get(family, kind, reshapable, runner, letterbox, ran) -> None:
    """What the run table and the results' header say is what `passes` and our runner's `input_for` do."""
    detector = _unloaded(family, kind, reshapable=reshapable, runner=runner)
    assert detector.letterbox_ran(letterbox) == ran
    options = PredictOptions(imgsz=320, letterbox=letterbox)
    wide = np.zeros((320, 640, 3), np.uint8)
    if runner:
        detector.input_hw = (320, 320)
        assert (detector.input_for(wide.shape[:2], options) != (320, 320)) is (ran == "rect")
    else:
        ((_, imgsz, rect),) = detector.passes([wide], options)
        assert (rect or isinstance(imgsz, tuple)) is (ran == "rect")


@pytest.fixture(scope="module")
def demo_pair() -> dict:
    """Each demo model as attn-detect loads it, and as plain Ultralytics does."""
    from ultralytics import RTDETR, YOLO

    from detect_cli.models.detector import load_detector
    from detect_cli.models.lookup import resolve_model

    out = {}
    for spec, kind in (("demo", YOLO), ("demo-rtdetr", RTDETR)):
        ours = load_detector(resolve_model(spec), threads=1)
        out[spec] = (ours, kind(ours.ref.path))
    return out


def _scene(k: int, size: tuple[int, int]) -> np.ndarray:
    from detect_cli.demo.scenes import make_scene

    return make_scene(np.random.default_rng([41, k]), size)[0]


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
def test_auto_gives_yolo_predicts_boxes_on_4_3_and_16_9(demo_pair: dict, spec: str) -> None:
    """`yolo predict` on a .pt: YOLO at the rect letterbox, RT-DETR stretched to the square; so does auto.
    (With the head attn-detect runs: YOLO26's end-to-end one, `nms=False`; the demo checkpoint keeps its
    head in NMS mode, which plain `yolo predict` would run.)"""
    ours, theirs = demo_pair[spec]
    head = {"nms": False} if spec == "demo" else {}
    seen = 0
    for k, size in enumerate([(640, 480), (1280, 720), (480, 640)]):
        image = _scene(k, size)
        ((dets, _),) = ours.predict([image], PredictOptions(conf=0.2, imgsz=320))
        boxes = theirs.predict(image, imgsz=320, conf=0.2, verbose=False, **head)[0].boxes
        expected = boxes.xyxy.numpy().copy()
        expected[:, 0::2] = expected[:, 0::2].clip(0, size[0])
        expected[:, 1::2] = expected[:, 1::2].clip(0, size[1])
        assert np.allclose(dets.xyxy, expected, atol=1e-3) and np.allclose(dets.confidence, boxes.conf.numpy())
        seen += len(dets)
    assert seen >= 6


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["demo", "demo-rtdetr"])
@pytest.mark.parametrize("letterbox", ["rect", "square"])
def test_a_picture_s_boxes_do_not_depend_on_its_batch(demo_pair: dict, spec: str, letterbox: str) -> None:
    """A batch of 4:3, 16:9 and portrait pictures: each gets the boxes it gets alone (Ultralytics would
    pad a mixed batch to the square)."""
    ours, _ = demo_pair[spec]
    options = PredictOptions(conf=0.2, imgsz=320, letterbox=letterbox)
    images = [_scene(k, size) for k, size in enumerate([(640, 480), (1280, 720), (640, 480), (480, 640)])]
    batched = ours.predict(images, options)
    for image, (dets, _) in zip(images, batched, strict=True):
        ((alone, _),) = ours.predict([image], options)
        assert np.allclose(alone.xyxy, dets.xyxy, atol=1e-3) and len(alone) > 0


@pytest.mark.slow
def test_rtdetr_at_rect_is_stretched_to_its_rectangle(demo_pair: dict) -> None:
    ours, theirs = demo_pair["demo-rtdetr"]
    image = _scene(5, (640, 360))
    ((dets, _),) = ours.predict([image], PredictOptions(conf=0.2, imgsz=320, letterbox="rect"))
    boxes = theirs.predict(image, imgsz=(192, 320), conf=0.2, verbose=False)[0].boxes
    assert len(dets) > 0 and np.allclose(dets.confidence, boxes.conf.numpy())


@pytest.mark.parametrize(
    ("args", "ir", "expected"),
    [
        ({"quantize": 8}, "", "int8"),  # Ultralytics' INT8 export, and attn-detect's since it says so too
        ({"int8": True}, "", "int8"),  # older Ultralytics
        ({"quantize": 16}, "", "fp16"),
        ({"quantize": None}, '<layer id="3" name="q" type="FakeQuantize" version="opset1">', "int8"),  # older ours
        ({"quantize": None}, '<layer id="3" name="c" type="Convolution" version="opset1">', "fp32"),
        ("not a mapping", "", "fp32"),
    ],
)
def test_an_exports_precision_is_read_from_its_metadata(tmp_path: Path, args: object, ir: str, expected: str) -> None:
    from detect_cli.models.detector import export_precision

    folder = tmp_path / "m_openvino_model"
    folder.mkdir()
    (folder / "m.xml").write_text(f"<net>{'x' * (1 << 20)}{ir}</net>")  # the mark past the first block read
    assert export_precision({"args": args, "end2end": True}, folder) == expected
