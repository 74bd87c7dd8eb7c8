"""INT8 against FP32 OpenVINO, side by side in one process: speed, agreement, mAP, one-time cost.

    python benchmarks/bench_int8.py [--cases demo@320,demo-rtdetr@320,demo@640] [--held-out 300]
                                    [--variants performance,mixed,mixed-full,accuracy-control]
                                    [--routes onnx,pytorch] [--shapes static,dynamic]

For each model at its size: the FP32 OpenVINO export (as `--backend auto` makes it), then INT8 models
quantized on 300 generated scenes (the calibration `--precision int8` uses for the demo models), each
scored by the accuracy gate (`models/int8_gate.py`) on --held-out other scenes with their labels:
agreement F1 with FP32, mAP50-95 of both, and the time per image end to end (letterbox, network,
decoding), FP32 and INT8 in alternation on the same images. At 640 the scenes are drawn at 640 px
(the shapes keep their pixel sizes, as bigger photos of the same objects would).

Variants: `performance` and `mixed` are the two presets `--precision int8` tries (head decoding kept
in float, as Ultralytics does); `mixed-full` quantizes the head too (does keeping it matter?);
`accuracy-control` is NNCF's quantize_with_accuracy_control on the mixed preset, reverting layers
until mAP50-95 on 100 of the held-out scenes drops by at most 0.01. The CPU is printed: INT8 gains
depend on it (VNNI/AMX).

`--routes`: how the FP32 export is converted (`onnx`: through ONNX, the default where the `onnx` package
is installed; `pytorch`: OpenVINO's PyTorch frontend, Ultralytics' own); `--shapes`: a static export, or
one with dynamic shapes (what the first run makes; INT8 quantizes it at its square).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detect_cli.core.coco_map import mean_map
from detect_cli.core.detections import Detections
from detect_cli.demo.scenes import make_scene
from detect_cli.models.calibration import CALIBRATE_MAX
from detect_cli.models.detector import PredictOptions, load_detector
from detect_cli.models.export import FORMATS, export_model
from detect_cli.models.int8 import _quiet_nncf, head_scope, quantize
from detect_cli.models.int8_gate import check_int8
from detect_cli.models.letterbox import decode_rtdetr, decode_yolo_end2end, letterbox, to_input
from detect_cli.models.lookup import resolve_model
from detect_cli.models.openvino_direct import open_openvino
from detect_cli.models.runtime_cache import cpu_name

SEEDS = {"calibration": 7, "held_out": 11}  # 11: neither the gate's (8) nor training's (1-3)


def scenes(seed: int, n: int, size: int) -> tuple[list[np.ndarray], list[Detections]]:
    images, truth = [], []
    for i in range(n):
        image, labels = make_scene(np.random.default_rng([seed, i]), size)
        images.append(image)
        boxes = np.array([b[1:] for b in labels], np.float32).reshape(-1, 4)
        truth.append(Detections(boxes, np.ones(len(labels), np.float32), np.array([b[0] for b in labels], int)))
    return images, truth


def accuracy_control(xml: Path, out: Path, family: str, calibration: list, validation: list) -> Path:
    """NNCF's quantize_with_accuracy_control: mAP50-95 on `validation` may drop by at most 0.01."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    shape = [int(d) for d in model.input(0).get_shape()]
    hw, stretch = (shape[2], shape[3]), family == "rtdetr"
    decode = decode_rtdetr if stretch else decode_yolo_end2end

    def transform(item):
        image = item[0] if isinstance(item, tuple) else item
        return to_input(letterbox(image, hw, stretch=stretch)[0])

    def validate(compiled, items) -> float:
        pairs = []
        for image, truth in items:
            boxed, placement = letterbox(image, hw, stretch=stretch)
            rows = np.array(compiled(to_input(boxed))[0][0], np.float32)
            xyxy, conf, cls = decode(rows, placement, 0.001, None, 300)
            pairs.append((truth, Detections(xyxy, conf, cls), image.shape[:2]))
        return mean_map(pairs, [0, 1, 2, 3, 4])[1]

    options = {"preset": nncf.QuantizationPreset.MIXED, "subset_size": len(calibration), "max_drop": 0.01}
    if family == "rtdetr":
        options["model_type"] = nncf.ModelType.TRANSFORMER
    if names := head_scope(model):
        options["ignored_scope"] = nncf.IgnoredScope(names=names)
    with _quiet_nncf():
        quantized = nncf.quantize_with_accuracy_control(
            model,
            nncf.Dataset(calibration, transform),
            nncf.Dataset(validation, transform),
            validation_fn=validate,
            **options,
        )
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out / xml.name), compress_to_fp16=False)
    return out / xml.name


def run_case(
    spec: str, imgsz: int, held_out: int, variants: list[str], work: Path, route: str = "onnx", dynamic: bool = False
) -> list[dict]:
    from detect_cli.models import openvino_convert

    demo = load_detector(resolve_model(spec), device="cpu")
    available = openvino_convert.onnx_route_available
    if route == "pytorch":
        openvino_convert.onnx_route_available = lambda: False
    try:
        name = f"{spec}-{imgsz}-{route}-{'dynamic' if dynamic else 'static'}"
        folder = export_model(demo, FORMATS["openvino"], work / name, imgsz=imgsz, dynamic=dynamic)
    finally:
        openvino_convert.onnx_route_available = available
    xml = next(folder.glob("*.xml"))
    spec = f"{spec} ({route}, {'dynamic' if dynamic else 'static'}, {len(head_scope_of(xml))} kept in float)"
    fp32 = open_openvino(xml, demo)
    calibration, _ = scenes(SEEDS["calibration"], CALIBRATE_MAX, imgsz)
    held, truth = scenes(SEEDS["held_out"], held_out, imgsz)
    options = PredictOptions(imgsz=imgsz)
    rows = []
    for variant in variants:
        out = work / f"{name}-{variant}"
        start = time.perf_counter()
        if variant == "accuracy-control":
            made = accuracy_control(xml, out, demo.ref.family, calibration, list(zip(held[:100], truth[:100])))
        else:
            preset = variant.removesuffix("-full")
            made = quantize(
                xml, out, calibration, family=demo.ref.family, preset=preset, keep_head="-full" not in variant
            )
        quantize_s = time.perf_counter() - start
        check = check_int8(fp32, open_openvino(made, demo), held, options, truth)
        rows.append({"case": f"{spec}@{imgsz}", "variant": variant, "quantize_s": quantize_s, "check": check})
        print(f"  {spec}@{imgsz} {variant}: {check.summary()} ({quantize_s:.0f} s)", file=sys.stderr, flush=True)
    return rows


def head_scope_of(xml: Path) -> list[str]:
    import openvino as ov

    return head_scope(ov.Core().read_model(str(xml)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="demo@320,demo-rtdetr@320,demo@640")
    parser.add_argument("--held-out", type=int, default=300)
    parser.add_argument("--variants", default="performance,mixed,mixed-full,accuracy-control")
    parser.add_argument("--routes", default="onnx", help="onnx, pytorch (comma-separated)")
    parser.add_argument("--shapes", default="static", help="static, dynamic (comma-separated)")
    args = parser.parse_args()
    os = __import__("os")
    print(f"CPU: {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            spec, size = case.split("@")
            for shapes in args.shapes.split(","):
                for route in args.routes.split(","):
                    variants = args.variants.split(",")
                    rows += run_case(spec, int(size), args.held_out, variants, Path(tmp), route, shapes == "dynamic")
    print(
        "| model | INT8 variant | FP32 ms/img | INT8 ms/img | INT8/FP32 speed | agreement F1 | mAP50-95 FP32 -> INT8 "
        "| gate | quantize (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["check"]
        gate = "pass" if c.passed else "refused: " + "; ".join(c.failures())
        print(
            f"| {r['case']} | {r['variant']} | {c.ms_fp32:.2f} | {c.ms_int8:.2f} | {c.speedup:.2f}x | {c.f1:.3f} "
            f"| {c.map_fp32:.4f} -> {c.map_int8:.4f} ({c.map_change:+.4f}) | {gate} | {r['quantize_s']:.0f} |"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
