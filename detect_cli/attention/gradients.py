"""Gradient maps targeted at one detection: Grad-CAM (Selvaraju et al.) and LayerCAM (Jiang et al.)
of that detection's own class logit, at the prediction (YOLO anchor, RT-DETR query) that produced it.

Ultralytics' `class_activation_map` explains a class's strongest predictions, so for the second
object of a class it shows the first. Here the target is the one logit the detection came from,
found by the hooked pass (`capture`: the head's top-k or NMS redone), so two squares get two maps.
Hooks sit where Ultralytics' LayerCAM puts them, on the real head of the network the predictor runs:
its input feature maps (every level) and its class logits; one forward pass with gradients, one
backward pass per detection. Per level, Grad-CAM weighs each channel by its mean gradient, LayerCAM
each position by its positive gradient; the levels are summed as they are (they are terms of the same
first-order expansion of one logit), upsampled to the network input and mapped back onto the image.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from detect_cli.attention.capture import _network, hooks
from detect_cli.attention.maps import map_size, normalise, resize_map, unletterbox
from detect_cli.models.detector import Detector, PredictOptions

GRADIENT_METHODS = ("gradcam", "layercam-det")


def targeted_cams(
    detector: Detector, image: np.ndarray, options: PredictOptions, predictions: list[int], classes: list[int]
) -> dict[str, list[np.ndarray]]:
    """{"gradcam": maps, "layercam-det": maps}, one map per (prediction index, class) pair, at `map_size`."""
    import torch

    _network(detector, image, options)
    predictor = detector.predictor
    model = predictor.model  # AutoBackend, as Ultralytics' LayerCAM calls it
    head = model.model.model[-1]
    batch = predictor.preprocess([image])
    acts: list[Any] = []
    raw: dict[str, Any] = {}

    def grab_inputs(module: Any, inputs: tuple) -> None:
        x = inputs[0]
        acts.extend(a for a in (x if isinstance(x, (list, tuple)) else [x]) if a.ndim == 4)

    head.shape = head.shapes = None  # anchor caches made under inference mode would break the graph
    maps: dict[str, list[np.ndarray]] = {name: [] for name in GRADIENT_METHODS}
    if not predictions:
        return maps
    mode = torch.inference_mode(False) if hasattr(torch, "inference_mode") else contextlib.nullcontext()
    with mode, torch.enable_grad():
        with hooks(
            head.register_forward_pre_hook(grab_inputs), head.register_forward_hook(lambda m, i, o: raw.update(out=o))
        ):
            model(batch.clone().requires_grad_(True))
        logits = _class_logits(head, raw["out"])  # (nc, predictions) of image 0
        for k, (index, cls) in enumerate(zip(predictions, classes, strict=True)):
            grads = torch.autograd.grad(logits[cls, index], acts, retain_graph=k < len(predictions) - 1)
            grad_cam = layer_cam = 0.0
            for a, g in zip(acts, grads):
                a, g = a.detach().float(), g.float()
                grad_cam = grad_cam + _up((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True), batch)
                layer_cam = layer_cam + _up((g.clamp(min=0) * a).sum(1, keepdim=True).clamp(min=0), batch)
            maps["gradcam"].append(_on_image(detector, grad_cam.clamp(min=0), image))
            maps["layercam-det"].append(_on_image(detector, layer_cam, image))
    return maps


def _class_logits(head: Any, output: Any) -> Any:
    """The head's class logits of image 0, (nc, predictions), in the order its top-k / NMS indexes."""
    raw = output[1] if isinstance(output, tuple) else output
    if isinstance(raw, dict):  # YOLO Detect: the branch that made the detections
        return raw.get("one2one" if head.end2end else "one2many", raw)["scores"][0]
    return raw[1][-1][0].transpose(0, 1)  # RT-DETR: last decoder layer's scores, (queries, nc) -> (nc, queries)


def _up(cam: Any, batch: Any) -> Any:
    import torch.nn.functional as F

    return F.interpolate(cam, batch.shape[2:], mode="bilinear", align_corners=False)


def _on_image(detector: Detector, cam: Any, image: np.ndarray) -> np.ndarray:
    heat = cam[0, 0].detach().cpu().numpy()
    out_hw = map_size(*image.shape[:2])
    if detector.ref.family == "rtdetr":  # RT-DETR stretches the image to the input square
        return normalise(resize_map(heat, *out_hw))
    return normalise(unletterbox(heat, image.shape[:2], out_hw))
