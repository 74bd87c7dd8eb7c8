"""What INT8 keeps in floating point, read in both namings an OpenVINO IR can have: the PyTorch
frontend's (Ultralytics' export) and the ONNX frontend's (the ONNX route of the first run's export)."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.models.int8 import head_scope

# (module of each operation, as the two namings spell it): an activation, a head sub-module, the head's
# own decoding, its dfl
TORCH = {
    "act": "__module.model.0.act/aten::silu/",
    "conv": "__module.model.23.cv3.0.conv/aten::_convolution/",
    "head": "__module.model.23/aten::topk/",
    "sigmoid": "__module.model.23/aten::sigmoid/",
    "dfl": "__module.model.23.dfl.conv/aten::_convolution/",
}
ONNX = {
    "act": "/model.0/act/",
    "conv": "/model.23/cv3.0/conv/",
    "head": "/model.23/",
    "sigmoid": "/model.23/",
    "dfl": "/model.23/dfl/conv/",
}


def _network(naming: dict[str, str], *, silu_as_swish: bool):
    """input -> SiLU -> (head sub-module) Multiply -> (dfl) Add -> (head) Sigmoid -> Multiply -> TopK."""
    import openvino as ov
    import openvino.opset13 as ops

    def named(node, module: str, name: str):
        node.set_friendly_name(module + name)
        return node

    x = ops.parameter([1, 3, 8, 8], np.float32, name="images")
    if silu_as_swish:
        act = named(ops.swish(x), naming["act"], "Swish")
    else:  # ONNX: x * Sigmoid(x)
        act = named(ops.multiply(x, named(ops.sigmoid(x), naming["act"], "Sigmoid")), naming["act"], "Mul")
    conv = named(ops.multiply(act, ops.constant(np.float32(2))), naming["conv"], "Conv")
    dfl = named(ops.add(conv, ops.constant(np.float32(1))), naming["dfl"], "Conv")
    scores = named(ops.sigmoid(dfl), naming["sigmoid"], "Sigmoid")
    scaled = named(ops.multiply(scores, ops.constant(np.float32(3))), naming["head"], "Mul")
    flat = named(ops.reshape(scaled, ops.constant(np.array([1, -1], np.int64)), False), naming["head"], "Reshape")
    top = named(ops.topk(flat, ops.constant(np.int64(5)), 1, "max", "value"), naming["head"], "TopK")
    return ov.Model([top.output(0)], [x])


@pytest.mark.parametrize(("naming", "swish"), [(TORCH, True), (ONNX, False)], ids=["pytorch-frontend", "onnx"])
def test_the_head_is_kept_in_float_in_either_naming(naming: dict[str, str], swish: bool) -> None:
    kept = head_scope(_network(naming, silu_as_swish=swish))
    roles = {role for role, module in naming.items() for name in kept if name.startswith(module)}
    assert {naming["sigmoid"] + "Sigmoid", naming["head"] + "Mul", naming["head"] + "TopK"} <= set(kept)
    assert naming["dfl"] + "Conv" in kept  # the head's dfl, as Ultralytics keeps it
    assert naming["conv"] + "Conv" not in kept  # a sub-module of the head (its convolutions) is quantized
    assert "act" not in roles  # a SiLU's Sigmoid is an activation: quantized (before: every operation kept)
    assert len(kept) == 5


def test_a_network_without_a_sigmoid_keeps_nothing() -> None:
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 3], np.float32)
    silu = ops.multiply(x, ops.sigmoid(x))  # only a SiLU's Sigmoid: no head to keep
    assert head_scope(ov.Model([silu.output(0)], [x])) == []
