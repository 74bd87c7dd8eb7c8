"""Checks of the RT-DETR demo recipe: the YAML builds and takes yolo26n's layers 0-22 1:1."""

from __future__ import annotations

from pathlib import Path

import pytest

from detect_cli.demo.train_rtdetr import MODEL_YAML, parse_args, transfer_backbone, with_queries

pytestmark = pytest.mark.slow
N_SHARED = 23  # yolo26n layers 0-22 (backbone + PAN neck); its layer 23 is Detect


@pytest.fixture(scope="module")
def yolo_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("yolo") / "yolo26n-shapes.pt"
    torch.save({"model": DetectionModel("yolo26n.yaml", nc=5, verbose=False)}, path)
    return path


def _rtdetr():
    from ultralytics.nn.tasks import RTDETRDetectionModel

    return RTDETRDetectionModel(str(MODEL_YAML), nc=5, verbose=False)


def test_yaml_builds_and_predicts() -> None:
    import torch

    model = _rtdetr().eval()
    assert model.yaml["nc"] == 5 and type(model.model[-1]).__name__ == "RTDETRDecoder"
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 160, 160))
    assert out[0].shape[:2] == (1, 100)  # 100 queries


def test_with_queries_changes_only_the_query_count() -> None:
    import torch
    from ultralytics.nn.tasks import RTDETRDetectionModel, yaml_model_load

    cfg = yaml_model_load(MODEL_YAML)
    fewer = RTDETRDetectionModel(with_queries(cfg, 7), nc=5, verbose=False).eval()
    base = _rtdetr()
    assert cfg["head"][-1][3][2] != 7  # the copy was changed, not the loaded dict
    fewer.load_state_dict(base.state_dict())  # no tensor depends on the query count
    with torch.no_grad():
        out = fewer(torch.zeros(1, 3, 160, 160))
    assert out[0].shape[:2] == (1, 7)
    with pytest.raises(SystemExit, match="not RTDETRDecoder"):
        with_queries(yaml_model_load("yolo26n.yaml"), 7)


def test_transfer_copies_yolo26n_layers_exactly(yolo_ckpt: Path) -> None:
    import torch

    src = torch.load(yolo_ckpt, weights_only=False)["model"].state_dict()
    model = _rtdetr()
    copied = transfer_backbone(model, yolo_ckpt)
    shared = [k for k in src if int(k.split(".")[1]) < N_SHARED]
    assert sorted(copied) == sorted(shared)
    dst = model.state_dict()
    assert all(torch.equal(dst[k], src[k].float()) for k in shared)
    # nothing past the shared layers was touched: the decoder keeps its own initialisation
    assert not any(int(k.split(".")[1]) >= N_SHARED for k in copied)


def test_cli_defaults() -> None:
    args = parse_args(["--out", "x", "--init", "demo.pt", "--freeze", "23", "--time", "0.5"])
    assert (args.freeze, args.time, args.batch, args.workers, args.model) == (23, 0.5, 16, 0, MODEL_YAML)


def test_vfl_weights_reach_the_trained_model_only() -> None:
    from types import SimpleNamespace

    import torch
    from ultralytics import RTDETR

    from detect_cli.demo.train_rtdetr import add_callbacks

    model = RTDETR(str(MODEL_YAML))
    add_callbacks(model, parse_args(["--out", "x", "--vfl", "0.75", "2"]))
    trained, ema, default = _rtdetr(), _rtdetr(), _rtdetr()
    for net in (trained, ema, default):
        net.nc = 5  # the trainer sets it from the data
    for callback in model.callbacks["on_train_start"]:
        callback(SimpleNamespace(model=trained, ema=SimpleNamespace(ema=ema)))
    vfl = trained.criterion.vfl
    assert (vfl.alpha, vfl.gamma) == (0.75, 2.0)
    assert getattr(ema, "criterion", None) is None  # checkpoints are saved from the EMA: no loss object in them
    scores = torch.tensor([[[0.0, 2.0]]])  # one query, two classes, both negatives
    default = default.init_criterion().vfl
    zeros = torch.zeros_like(scores)
    assert vfl(scores, zeros, zeros) > default(scores, zeros, zeros)  # negatives weigh more than Ultralytics' 0.25, 1.5
