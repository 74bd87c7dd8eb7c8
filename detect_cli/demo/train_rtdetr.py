"""Train the bundled RT-DETR demo detector (``demo-rtdetr``) on the synthetic shapes (CPU only).

Usage (the recommended command; ``demo-rtdetr.json`` records what was actually used)::

    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/ycfg-rtdetr \\
        python -m detect_cli.demo.train_rtdetr --out /work/demo_runs/rtdetr --epochs 15 --time 0.7 \\
        --init detect_cli/demo/weights/demo.pt --freeze 23

The model is ``rtdetr-demo.yaml`` (next to this file): yolo26n's backbone and PAN neck (layers
0-22) under a light AIFI and an ``RTDETRDecoder``. With ``--init``, those layers are copied from
a YOLO checkpoint (normally ``demo.pt``, yolo26n trained on the same shapes) by layer index and
shape; ``--freeze 23`` then trains only the AIFI and the decoder. ``--time H`` bounds training
to H hours (Ultralytics re-fits the epoch count and the cosine schedule after every epoch).

How the transfer survives Ultralytics' trainer: ``RTDETR(yaml).train()`` does not train that
object's weights - for a model built from a YAML the trainer builds a fresh one in
``get_model``, so weights loaded into the object beforehand are lost. ``pretrained=x.pt`` would
go through ``model.load``, which copies every tensor whose *name* and shape match, whatever layer
it belongs to (with a differently laid out neck that silently fills unrelated layers). So the
copy happens in :class:`TransferTrainer.get_model`, layer by layer up to the first layer that
differs, and a callback checks after the first optimizer step that the copied tensors are still
there (frozen ones bit-identical).

Data: the shapes datasets written by ``detect_cli.demo.train`` (train seed 1, val seed 2, test
seed 3) under ``--data-dir``; they are generated there only if missing. After training, best.pt
is evaluated on the val set and on the held-out test set and published as
``detect_cli/demo/weights/demo-rtdetr.pt`` + ``demo-rtdetr.json``.

Long because it is the whole recipe in one script (not shipped in the wheel).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

from detect_cli.demo.scenes import CLASSES
from detect_cli.demo.train import IMGSZ, SEEDS, WEIGHTS_DIR, evaluate, make_data, publish

MODEL_YAML = Path(__file__).resolve().with_name("rtdetr-demo.yaml")
MAX_WEIGHTS_BYTES = 30 * 1024 * 1024
NAME = "demo-rtdetr"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="work dir for Ultralytics' run (outside the repo)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument(
        "--time",
        type=float,
        default=None,
        help="hours of training; Ultralytics then re-sets the epoch count (and LR schedule) after every epoch",
    )
    p.add_argument("--model", type=Path, default=MODEL_YAML, help="model YAML (default: rtdetr-demo.yaml)")
    p.add_argument("--init", type=Path, default=None, help="YOLO checkpoint whose backbone is copied (e.g. demo.pt)")
    p.add_argument("--freeze", type=int, default=0, help="train only layers >= K (23: all copied yolo26n layers)")
    p.add_argument(
        "--data-dir", type=Path, default=None, help="holds shapes.yaml, shapes_test.yaml (default: OUT/data)"
    )
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--close-mosaic", type=int, default=3)
    p.add_argument("--optimizer", default="auto", help="Ultralytics optimizer ('auto' = AdamW, lr 0.00111 here)")
    p.add_argument("--lr0", type=float, default=0.01, help="only used when --optimizer is not 'auto'")
    p.add_argument(
        "--warmup-epochs",
        type=float,
        default=3.0,
        help="Ultralytics' warm-up (bias lr from 0.1 down): 0 when fine-tuning a trained model",
    )
    p.add_argument(
        "--queries",
        type=int,
        default=None,
        help="decoder queries (default: the model's own; no weight depends on it, so a trained model can change it)",
    )
    p.add_argument(
        "--vfl",
        type=float,
        nargs=2,
        metavar=("ALPHA", "GAMMA"),
        default=None,
        help="varifocal loss weighting of the negatives, alpha*score^gamma (Ultralytics passes 0.25 1.5; "
        "the RT-DETR authors' code uses 0.75 2.0): a larger weight pushes duplicate queries' scores down",
    )
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the train images to use")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    p.add_argument("--device", default="cpu", help="training device: cpu, or a GPU index such as 0")
    p.add_argument("--max-iters", type=int, default=0, help="smoke test: stop after this many iterations")
    p.add_argument("--no-publish", action="store_true", help="train and evaluate only")
    p.add_argument(
        "--weights-dir",
        type=Path,
        default=WEIGHTS_DIR,
        help="where demo-rtdetr.pt / .json go (default: the package's weights/)",
    )
    return p.parse_args(argv)


def data_yamls(data_dir: Path) -> tuple[Path, Path]:
    """Return (train/val yaml, train/test yaml), generating the datasets only if they are missing."""
    val_yaml, test_yaml = data_dir / "shapes.yaml", data_dir / "shapes_test.yaml"
    if not (val_yaml.exists() and test_yaml.exists()):
        if data_dir.name != "data":
            raise SystemExit(f"{data_dir}: no shapes.yaml/shapes_test.yaml (only a dir named 'data' is generated)")
        counts = argparse.Namespace(train_images=1600, val_images=200, test_images=300)
        print(f"{data_dir}: no datasets, generating them (seeds {SEEDS})")
        val_yaml, test_yaml = make_data(data_dir.parent, counts)
    return val_yaml, test_yaml


def set_threads(n: int) -> None:
    """Like ``train.use_all_cores`` but with a chosen count (select_device re-applies NUM_THREADS)."""
    import torch
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = n
    torch.set_num_threads(n)


def transfer_backbone(model, ckpt_path: Path) -> dict:
    """Copy the leading layers that ``model`` shares with a YOLO checkpoint, by layer index and shape.

    Layers are taken from index 0 on while the module type and every tensor name and shape of the
    layer match; the first layer that differs ends the transfer (for rtdetr-demo.yaml and a yolo26n
    checkpoint: layers 0-22). Returns the copied tensors (fp32 clones), keyed like ``model.state_dict()``.
    """
    import torch
    from ultralytics.nn.tasks import load_checkpoint

    src, _ = load_checkpoint(str(ckpt_path))  # EMA weights first, as fp32
    src_sd, dst_sd = src.float().state_dict(), model.state_dict()
    copied, n_layers = {}, 0
    for i, (s_layer, d_layer) in enumerate(zip(src.model, model.model)):
        keys = [k for k in dst_sd if k.startswith(f"model.{i}.")]
        same = s_layer.type == d_layer.type and len(keys) == sum(k.startswith(f"model.{i}.") for k in src_sd)
        if not same or not all(k in src_sd and src_sd[k].shape == dst_sd[k].shape for k in keys):
            break
        copied.update({k: src_sd[k].detach().clone() for k in keys})
        n_layers = i + 1
    if not copied:
        raise SystemExit(f"transfer: no leading layer of {ckpt_path} matches the model")
    with torch.no_grad():
        model.load_state_dict(copied, strict=False)
    print(f"transfer: copied {len(copied)} tensors (layers 0-{n_layers - 1}) from {ckpt_path}")
    return copied


def with_queries(cfg: dict, queries: int) -> dict:
    """A copy of a model dict whose RTDETRDecoder (the last layer) selects ``queries`` queries."""
    cfg = copy.deepcopy(cfg)
    layer = cfg["head"][-1]
    if layer[2] != "RTDETRDecoder":
        raise SystemExit(f"--queries: the model's last layer is {layer[2]}, not RTDETRDecoder")
    layer[3][2] = queries  # args: nc, hidden dim, queries, ...
    return cfg


def make_trainer_class(init: Path | None, queries: int | None = None):
    """An RTDETRTrainer whose freshly built model receives the backbone of ``init`` (and ``queries``)."""
    from ultralytics.models.rtdetr.train import RTDETRTrainer
    from ultralytics.nn.tasks import yaml_model_load

    class TransferTrainer(RTDETRTrainer):
        transferred: dict | None = None  # the copied tensors, set by get_model

        def get_model(self, cfg=None, weights=None, verbose=True):
            if queries is not None:
                cfg = with_queries(cfg if isinstance(cfg, dict) else yaml_model_load(cfg), queries)
            model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
            if init is not None and weights is None:
                self.transferred = transfer_backbone(model, init)
            return model

    return TransferTrainer


def add_callbacks(model, args: argparse.Namespace) -> dict:
    """Check the transfer after the first step, time iterations, honour --max-iters."""
    import torch
    from ultralytics.utils.torch_utils import unwrap_model

    stats = {"iters": 0, "t_end": None, "c_end": None, "iter_s": [], "cpu_s": [], "data_s": [], "epoch_iter_s": []}

    def on_train_batch_start(trainer):
        if stats["t_end"] is not None:
            stats["data_s"].append(time.perf_counter() - stats["t_end"])

    def on_train_batch_end(trainer):
        now, cpu = time.perf_counter(), time.process_time()
        if stats["t_end"] is not None:
            stats["iter_s"].append(now - stats["t_end"])
            stats["cpu_s"].append(cpu - stats["c_end"])
        stats["t_end"], stats["c_end"] = now, cpu
        stats["iters"] += 1
        if stats["iters"] == 1 and trainer.transferred:
            check_transfer(unwrap_model(trainer.model), trainer.transferred, args.freeze)
        if args.max_iters and stats["iters"] >= args.max_iters:
            trainer.stop = True

    def on_train_epoch_end(trainer):
        its = stats["iter_s"]
        if its:
            mean = sum(its) / len(its)
            stats["epoch_iter_s"].append(round(mean, 3))
            data = sum(stats["data_s"]) / max(len(stats["data_s"]), 1)
            cpu = sum(stats["cpu_s"]) / len(stats["cpu_s"])
            print(
                f"epoch {trainer.epoch + 1}: {mean:.2f} s/iteration ({data:.2f} s of it loading data, "
                f"{cpu:.2f} CPU-s/iteration over {len(its)} iterations)"
            )
        stats["iter_s"], stats["cpu_s"], stats["data_s"], stats["t_end"] = [], [], [], None

    def check_transfer(net, copied: dict, freeze: int) -> None:
        """Frozen tensors must be bit-identical. Re-initialised weights would differ by O(1) of their
        norm, while one optimizer step moves each element by about the learning rate."""
        sd = net.state_dict()
        fl = [k for k, v in copied.items() if v.dtype.is_floating_point]
        frozen = [k for k in fl if int(k.split(".")[1]) < freeze]
        changed = [k for k in frozen if not torch.equal(sd[k].detach().float().cpu(), copied[k])]
        trained = [k for k in fl if int(k.split(".")[1]) >= freeze and "running_" not in k]  # BN stats may move
        d2 = sum(float((sd[k].detach().float().cpu() - copied[k]).pow(2).sum()) for k in trained)
        n2 = sum(float(copied[k].pow(2).sum()) for k in trained)
        rel = (d2 / max(n2, 1e-12)) ** 0.5
        print(
            f"transfer check after 1 iteration: {len(frozen)} frozen tensors, {len(changed)} changed; "
            f"{len(trained)} trainable transferred tensors, relative change {rel:.2e}"
        )
        if changed or rel > 0.05:
            raise SystemExit("backbone weights are no longer the transferred ones")

    def on_train_start(trainer):
        # Set on the trained model only, after the EMA copy was made, so checkpoints carry no loss object.
        if args.vfl:
            from ultralytics.utils.loss import VarifocalLoss

            net = unwrap_model(trainer.model)
            net.criterion = net.init_criterion()
            alpha, gamma = args.vfl
            net.criterion.vfl = VarifocalLoss(gamma=gamma, alpha=alpha)
            print(f"varifocal loss: alpha {alpha}, gamma {gamma}")

    model.add_callback("on_train_start", on_train_start)
    model.add_callback("on_train_batch_start", on_train_batch_start)
    model.add_callback("on_train_batch_end", on_train_batch_end)
    model.add_callback("on_train_epoch_end", on_train_epoch_end)
    return stats


def train(data_yaml: Path, out: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    """Train; return Ultralytics' stripped best checkpoint and the timing stats."""
    from ultralytics import RTDETR

    model = RTDETR(str(args.model))
    stats = add_callbacks(model, args)
    model.train(
        trainer=make_trainer_class(args.init, args.queries),
        data=str(data_yaml),
        epochs=args.epochs,
        time=args.time,
        imgsz=IMGSZ,
        batch=args.batch,
        workers=args.workers,
        device=args.device,
        seed=0,
        deterministic=True,
        amp=False,
        plots=False,
        cos_lr=True,
        close_mosaic=args.close_mosaic,
        nbs=args.batch,  # one optimizer step per batch
        scale=0.3,
        freeze=args.freeze or None,
        optimizer=args.optimizer,
        lr0=args.lr0,
        fraction=args.fraction,
        warmup_epochs=args.warmup_epochs,
        project=str(out),
        name="train",
        exist_ok=True,
        verbose=True,
    )
    stats["epochs"] = model.trainer.epoch + 1
    return Path(model.trainer.best), stats


def check_loads(weights: Path, image: Path) -> int:
    """The published file must load with ``RTDETR(path)`` and predict; return the box count."""
    from ultralytics import RTDETR

    result = RTDETR(str(weights)).predict(str(image), imgsz=IMGSZ, device="cpu", verbose=False)[0]
    return len(result.boxes)


def count_images(data_yaml: Path, key: str) -> int:
    import yaml

    d = yaml.safe_load(data_yaml.read_text())
    return len(list(Path(d[key]).glob("*.png")))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out.resolve()
    if args.init is not None:
        args.init = args.init.resolve()
        if not args.init.exists():
            raise SystemExit(f"--init {args.init} does not exist")
    val_yaml, test_yaml = data_yamls((args.data_dir or args.out / "data").resolve())
    import ultralytics  # noqa: F401  (imported before fixing the thread count it changes)

    set_threads(args.threads)
    start = time.perf_counter()
    best, stats = train(val_yaml, out, args)
    train_seconds = round(time.perf_counter() - start, 1)
    info = {
        "classes": list(CLASSES),
        "imgsz": IMGSZ,
        "model": args.model.name,
        "init": args.init.name if args.init else None,
        "freeze": args.freeze,
        "train_seconds": train_seconds,
        "threads": args.threads,
        "epochs": stats["epochs"],
        "time_hours": args.time,
        "seconds_per_iteration_by_epoch": stats["epoch_iter_s"],
        "train_images": round(count_images(val_yaml, "train") * args.fraction),
        "seeds": SEEDS,
        "val": {"images": count_images(val_yaml, "val"), **evaluate(best, val_yaml, args.batch, "rtdetr")},
        "test": {"images": count_images(test_yaml, "val"), **evaluate(best, test_yaml, args.batch, "rtdetr")},
    }
    print(json.dumps(info, indent=2))
    if args.no_publish:
        return
    target = publish(best, args.weights_dir, info, NAME, MAX_WEIGHTS_BYTES)
    test_dir = Path(__import__("yaml").safe_load(test_yaml.read_text())["val"])
    n = check_loads(target, sorted(test_dir.glob("*.png"))[0])
    print(f"wrote {target} ({target.stat().st_size} bytes); RTDETR() reloads it and predicts ({n} boxes)")


if __name__ == "__main__":
    main()
