"""Capture attention with forward hooks on the real Ultralytics modules (no patched model code).

RT-DETR: every decoder layer's multi-scale deformable cross-attention. Its sampling locations
and softmaxed weights are rebuilt from the inputs/outputs of `MSDeformAttn.sampling_offsets`
and `.attention_weights` exactly as `MSDeformAttn.forward` computes them; final detections are
tied to their object queries by redoing the decoder's top-k on the hooked scores.

YOLO26: the C2PSA block's self-attention, rebuilt from its `qkv` convolution output as in
`Attention.forward`; each detection is tied to the anchor (grid cell) that produced it by
redoing the head's top-k (NMS-free) or NMS with `return_idxs`, and that cell's row of the
attention rollout (residual included) is the detection's map.

A batch runs as one hooked prediction, exactly as `Detector.predict` runs it (so the detections
are those of a plain run at the same batch size); the maps are then built image by image.
Hooks go on the predictor's own copy of the network (Ultralytics deep-copies and fuses the model
when the predictor is set up) and are removed after each prediction.

Long because the hooks of both families, and their removal, are one piece that must agree.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect_cli.attention.maps import map_size, normalise, resize_map, splat, unletterbox
from detect_cli.core.detections import Detections
from detect_cli.core.errors import AttnDetectError, ConfigError, ModelFailed
from detect_cli.core.results import Timing
from detect_cli.models.detector import Detector, PredictOptions


@dataclass
class Explanation:
    """Detections of one image and a map per detection (values in [0, 1]) at `map_size` of the image
    (the image's own size up to MAP_LONGEST pixels)."""

    detections: Detections
    maps: list[np.ndarray]
    image_map: np.ndarray
    layer: str
    extra: dict[str, Any] = field(default_factory=dict)


def _network(detector: Detector, image: np.ndarray, options: PredictOptions) -> Any:
    """The torch module the predictor really runs (set it up with one predict if needed)."""
    if detector.predictor is None or detector.predictor.model is None:
        detector.predict([image], options)
    backend = detector.predictor.model
    net = getattr(backend, "model", None)
    if net is None or not hasattr(net, "model"):
        raise _exported(detector)
    return net


def _exported(detector: Detector) -> ConfigError:
    return ConfigError(
        f"attention maps need the PyTorch model (.pt or YAML), not an export ({detector.ref.spec})",
        "pass the .pt it was exported from",
    )


@contextlib.contextmanager
def hooks(*registrations: Any):
    handles = list(registrations)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def rtdetr_layers(detector: Detector) -> int:
    return len(detector.network().model[-1].decoder.layers)


# One image's result of a hooked pass: its detections and timing, and its explanation or why none could be made.
Hooked = tuple[Detections, Timing, Explanation | Exception]


def _predict_hooked(detector: Detector, images: list[np.ndarray], options: PredictOptions, install: Any) -> tuple:
    """Predict with hooks from `install(net) -> (registrations, fired)`. A change of some options
    makes Ultralytics rebuild its predictor (a fresh copy of the network), so if the hooks did not
    fire, they are installed again on the new copy and the images run once more."""
    for _ in range(2):
        net = _network(detector, images[0], options)
        registrations, fired = install(net)
        with hooks(*registrations):
            outputs = detector.predict(images, options)
        if fired():
            return net, outputs
    raise ModelFailed(
        "attention hooks did not fire: the network that ran is not the one hooked",
        "this Ultralytics version may build its predictor differently; report it, with --verbose",
    )


def _each(outputs: list[tuple[Detections, Timing]], explain_one: Any) -> list[Hooked]:
    """`explain_one(b, detections)` for each image b of the batch; a failure costs that image's maps only."""
    results: list[Hooked] = []
    for b, (detections, timing) in enumerate(outputs):
        try:
            results.append((detections, timing, explain_one(b, detections)))
        except AttnDetectError:
            raise
        except Exception as exc:
            results.append((detections, timing, exc))
    return results


def explain_rtdetr(
    detector: Detector, images: list[np.ndarray], options: PredictOptions, layer: int | None
) -> list[Hooked]:
    captured: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}

    def install(net: Any) -> tuple[list, Any]:
        head = net.model[-1]
        captured[:] = [{} for _ in head.decoder.layers]
        raw.clear()
        registrations = [head.register_forward_hook(lambda m, i, o: raw.update(out=o))]
        aifi = _aifi(net)
        if aifi is not None:  # the encoder's self-attention over the last feature level (head-averaged)
            registrations += [
                aifi.register_forward_pre_hook(lambda m, a: raw.update(aifi_hw=tuple(a[0].shape[2:]))),
                aifi.ma.register_forward_hook(lambda m, i, o: raw.update(aifi=None if o[1] is None else o[1].detach())),
            ]
        for store, dec_layer in zip(captured, head.decoder.layers):
            attn = dec_layer.cross_attn
            registrations += [
                attn.register_forward_pre_hook(lambda m, a, s=store: s.update(ref=a[1].detach())),
                attn.sampling_offsets.register_forward_hook(lambda m, i, o, s=store: s.update(off=o.detach())),
                attn.attention_weights.register_forward_hook(lambda m, i, o, s=store: s.update(aw=o.detach())),
            ]
        return registrations, lambda: "out" in raw

    net, outputs = _predict_hooked(detector, images, options, install)
    head = net.model[-1]
    layers = head.decoder.layers
    scores = raw["out"][1][1][-1].sigmoid()  # last decoder layer's class scores, (bs, queries, nc)
    nq, nc = scores.shape[1:]
    top, index = scores.flatten(1).topk(min(head.num_queries, nq * nc), dim=1)
    chosen = range(len(layers)) if layer is None else [layer]
    attn0 = layers[0].cross_attn
    label = "decoder cross-attention, " + ("all layers" if layer is None else f"layer {layer}")

    def explain_one(b: int, detections: Detections) -> Explanation:
        query, cls = index[b] // nc, index[b] % nc
        keep = top[b] > options.conf
        if options.classes:
            keep &= np.isin(cls.cpu().numpy(), list(options.classes))
        queries = query[keep.nonzero().view(-1)[: options.max_det]].cpu().numpy()
        if len(queries) != len(detections):
            raise RuntimeError(f"query mapping found {len(queries)} queries for {len(detections)} detections")
        h0, w0 = images[b].shape[:2]
        grid_h, grid_w = _grid_size(h0, w0)
        sigma = max(grid_w, grid_h) / 80

        def query_map(q: int) -> np.ndarray:
            total = np.zeros((grid_h, grid_w), np.float32)
            for i in chosen:
                points, weights = _sampling(captured[i], attn0, b, q)
                total += splat(points, weights, grid_h, grid_w, sigma)
            return normalise(resize_map(total, *map_size(h0, w0)))

        maps = [query_map(int(q)) for q in queries]
        image_map = np.max(maps, axis=0) if maps else query_map(int(query[0]))
        extra: dict[str, Any] = {"queries": queries.tolist()}
        if raw.get("aifi") is not None:
            extra["encoder_maps"] = encoder_maps(raw["aifi"][b].cpu().numpy(), raw["aifi_hw"], detections, (h0, w0))
        return Explanation(detections, maps, image_map, label, extra)

    return _each(outputs, explain_one)


def _aifi(net: Any) -> Any:
    return next((m for m in net.modules() if type(m).__name__ == "AIFI"), None)


def encoder_maps(
    weights: np.ndarray, grid_hw: tuple[int, int], detections: Detections, image_hw: tuple[int, int]
) -> list[np.ndarray]:
    """Per detection, the AIFI self-attention row of the encoder cell under its box centre (RT-DETR
    stretches the image to the input square, so normalised image coordinates are input coordinates),
    as a rollout through AIFI's residual (half the cell itself, half what it attends to), like YOLO26's."""
    grid_h, grid_w = grid_hw
    h0, w0 = image_hw
    rollout = 0.5 * np.eye(len(weights), dtype=np.float32) + 0.5 * weights
    out = []
    for x1, y1, x2, y2 in detections.xyxy:
        col = min(int((x1 + x2) / 2 / w0 * grid_w), grid_w - 1)
        row = min(int((y1 + y2) / 2 / h0 * grid_h), grid_h - 1)
        out.append(normalise(resize_map(rollout[row * grid_w + col].reshape(grid_h, grid_w), *map_size(h0, w0))))
    return out


def _sampling(store: dict[str, Any], attn: Any, b: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Sampling locations (normalised x, y) and softmaxed weights of query q of image b, all heads,
    levels, points."""
    heads, levels, npoints = attn.n_heads, attn.n_levels, attn.n_points
    ref = store["ref"][b, q, 0]  # (4,) cx, cy, w, h of the query's reference box
    off = store["off"][b, q].view(heads, levels * npoints, 2)
    loc = ref[:2] + off / npoints * ref[2:] * 0.5
    weights = store["aw"][b, q].view(heads, levels * npoints).softmax(-1)
    return loc.reshape(-1, 2).cpu().numpy(), weights.reshape(-1).cpu().numpy() / heads


def _grid_size(h0: int, w0: int, longest: int = 256) -> tuple[int, int]:
    scale = longest / max(h0, w0)
    return max(8, round(h0 * scale)), max(8, round(w0 * scale))


def _psa_attention(net: Any) -> Any:
    for module in net.modules():
        if type(module).__name__ == "C2PSA":
            return module.m[-1].attn
    raise ConfigError(
        "this YOLO model has no C2PSA attention block to read maps from",
        "use a YOLO26 or RT-DETR model, or the attention command's --method layercam",
    )


def explain_yolo(detector: Detector, images: list[np.ndarray], options: PredictOptions) -> list[Hooked]:
    from ultralytics.utils import nms

    captured: dict[str, Any] = {}

    def install(net: Any) -> tuple[list, Any]:
        captured.clear()
        head, attn = net.model[-1], _psa_attention(net)
        registrations = [
            head.register_forward_hook(lambda m, i, o: captured.update(out=o)),
            attn.qkv.register_forward_hook(lambda m, i, o: captured.update(qkv=o.detach())),
            net.register_forward_pre_hook(lambda m, a: captured.update(input_hw=tuple(a[0].shape[2:]))),
        ]
        return registrations, lambda: "out" in captured

    net, outputs = _predict_hooked(detector, images, options, install)
    head, attn = net.model[-1], _psa_attention(net)

    y, preds = captured["out"]
    if head.end2end:
        scores = preds["one2one"]["scores"].sigmoid().permute(0, 2, 1)
        _, _, anchor_index = head.get_topk_index(scores, head.max_det)
        feats = preds["one2one"]["feats"]
    else:
        _, idxs = nms.non_max_suppression(
            y,
            options.conf,
            options.iou,
            list(options.classes) if options.classes else None,
            max_det=options.max_det,
            return_idxs=True,
        )
        feats = preds["one2many"]["feats"] if isinstance(preds, dict) and "one2many" in preds else preds["feats"]
    qkv = captured["qkv"]
    _, _, grid_h, grid_w = qkv.shape
    in_h, in_w = captured["input_hw"]  # the whole batch is letterboxed to one size

    def explain_one(b: int, detections: Detections) -> Explanation:
        if head.end2end:
            keep = y[b, :, 4] > options.conf
            if options.classes:
                keep &= np.isin(y[b, :, 5].cpu().numpy(), list(options.classes))
            anchors = anchor_index[b, keep.nonzero().view(-1)[: options.max_det]]
        else:
            anchors = idxs[b]
        anchors = anchors.cpu().numpy().astype(int)
        if len(anchors) != len(detections):
            raise RuntimeError(f"anchor mapping found {len(anchors)} anchors for {len(detections)} detections")
        q, k, _ = (
            qkv[b : b + 1]
            .view(1, attn.num_heads, attn.key_dim * 2 + attn.head_dim, grid_h * grid_w)
            .split([attn.key_dim, attn.key_dim, attn.head_dim], 2)
        )
        weights = ((q * attn.scale).transpose(-2, -1) @ k).softmax(-1)[0].mean(0).cpu().numpy()  # (N, N), head mean
        # Attention rollout (Abnar & Zuidema, 2020): PSABlock adds its attention to a residual path, so a
        # cell's output is half itself, half what it attends to. The bare attention row alone points at
        # context, not at the evidence (measured: less mass in the box than the box's share of the image).
        weights = 0.5 * np.eye(len(weights), dtype=weights.dtype) + 0.5 * weights
        cells = [_anchor_cell(a, feats, in_h, in_w, grid_h, grid_w) for a in anchors]
        h0, w0 = images[b].shape[:2]

        def row_map(row: np.ndarray) -> np.ndarray:
            up = resize_map(row.reshape(grid_h, grid_w), in_h, in_w)
            return normalise(unletterbox(up, (h0, w0), map_size(h0, w0)))

        maps = [row_map(weights[c]) for c in cells]
        image_map = np.max(maps, axis=0) if maps else row_map(weights.mean(0))
        return Explanation(
            detections, maps, image_map, "C2PSA self-attention rollout", {"cells": cells, "anchors": anchors.tolist()}
        )

    return _each(outputs, explain_one)


def _anchor_cell(anchor: int, feats: list[Any], in_h: int, in_w: int, grid_h: int, grid_w: int) -> int:
    """Anchor index -> (level, row, col) -> its centre in input pixels -> the C2PSA grid cell."""
    offset = 0
    for feat in feats:
        fh, fw = feat.shape[2:]
        if anchor < offset + fh * fw:
            row, col = divmod(anchor - offset, fw)
            cy, cx = (row + 0.5) * in_h / fh, (col + 0.5) * in_w / fw
            return int(min(cy * grid_h / in_h, grid_h - 1)) * grid_w + int(min(cx * grid_w / in_w, grid_w - 1))
        offset += fh * fw
    raise IndexError(f"anchor {anchor} beyond {offset} anchors")


def explain_batch(
    detector: Detector, images: list[np.ndarray], options: PredictOptions, layer: int | None = None
) -> list[Hooked]:
    """One hooked prediction of `images` (a batch, as `Detector.predict` runs it): per image its
    detections, its timing, and its explanation or the exception that stopped its maps."""
    if detector.ref.kind == "exported":
        raise _exported(detector)
    groups = [indices for indices, _, _ in detector.passes(images, options)]
    if len(groups) > 1:  # pictures of several shapes at their own aspects: one hooked pass per shape
        out: list[Any] = [None] * len(images)
        for indices in groups:
            for i, hooked in zip(indices, explain_batch(detector, [images[i] for i in indices], options, layer)):
                out[i] = hooked
        return out
    if detector.ref.family == "rtdetr":
        return explain_rtdetr(detector, images, options, layer)
    return explain_yolo(detector, images, options)


def explain(detector: Detector, image: np.ndarray, options: PredictOptions, layer: int | None = None) -> Explanation:
    ((_, _, explanation),) = explain_batch(detector, [image], options, layer)
    if isinstance(explanation, Exception):
        raise explanation
    return explanation


def layercam(
    detector: Detector, image: np.ndarray, options: PredictOptions, classes: list[int] | None = None, topk: int = 16
) -> np.ndarray:
    """Ultralytics' own LayerCAM (`utils.plotting.class_activation_map`), its array taken rather
    than its file: the map it would blend into `<stem>_cam.jpg`, on the original image (at `map_size`)."""
    import tempfile

    from ultralytics.utils import plotting

    _network(detector, image, options)
    predictor = detector.predictor
    batch = predictor.preprocess([image])
    grabbed: list[np.ndarray] = []
    real = plotting.cv2.applyColorMap

    def grab(src: np.ndarray, colormap: int) -> np.ndarray:
        grabbed.append(src.copy())
        return real(src, colormap)

    plotting.cv2.applyColorMap = grab
    try:
        with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(None):
            plotting.class_activation_map(
                predictor.model, batch, ["image"], plotting.Path(scratch), conf=options.conf, classes=classes, topk=topk
            )
    finally:
        plotting.cv2.applyColorMap = real
    heat = grabbed[0].astype(np.float32) / 255.0
    heat = resize_map(heat, batch.shape[2], batch.shape[3])
    if detector.ref.family == "rtdetr":  # RT-DETR stretches the image to the input square
        return normalise(resize_map(heat, *map_size(*image.shape[:2])))
    return normalise(unletterbox(heat, image.shape[:2], map_size(*image.shape[:2])))
