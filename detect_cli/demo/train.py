"""Reproducibly train the bundled demo detector on synthetic shapes (CPU only, no downloads).

Usage (the command that produced ``detect_cli/demo/weights/demo.pt``; see ``demo.json`` for the
epochs and image counts actually used)::

    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/ycfg-demo \\
        python -m detect_cli.demo.train --out /work/demo_runs/demo --epochs 40 --train-images 1600

Keep ``--out`` outside the repository: it receives the generated datasets and Ultralytics' run.

Steps: generate the train (seed 1), val (seed 2) and held-out test (seed 3) sets, train
``yolo26n.yaml`` from scratch with ``nc=5``, copy the stripped best checkpoint to
``detect_cli/demo/weights/demo.pt`` and write ``demo.json`` with the classes, timings and the
mAP of that checkpoint on the val set and on the test set, which plays no part in training.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from detect_cli.demo.scenes import CLASSES, write_data_yaml, write_dataset

IMGSZ = 320
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MAX_WEIGHTS_BYTES = 6 * 1024 * 1024
SEEDS = {"train": 1, "val": 2, "test": 3}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="work dir (datasets + Ultralytics run)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--train-images", type=int, default=1600)
    p.add_argument("--val-images", type=int, default=200)
    p.add_argument("--test-images", type=int, default=300)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--close-mosaic", type=int, default=10)
    p.add_argument(
        "--weights-dir",
        type=Path,
        default=WEIGHTS_DIR,
        help="where demo.pt / demo.json go (default: the package's weights/)",
    )
    return p.parse_args(argv)


def make_data(out: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """Regenerate the three datasets from scratch; return (train/val yaml, train/test yaml)."""
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)
    counts = {"train": args.train_images, "val": args.val_images, "test": args.test_images}
    dirs = {s: write_dataset(data / s, counts[s], SEEDS[s], IMGSZ) for s in counts}
    val_yaml = write_data_yaml(dirs["train"], dirs["val"], data / "shapes.yaml")
    test_yaml = write_data_yaml(dirs["train"], dirs["test"], data / "shapes_test.yaml")
    return val_yaml, test_yaml


def use_all_cores() -> None:
    """Ultralytics pins torch to cpu_count-1 threads on CPU (1 on a 2-core box: 1.7x slower).

    ``select_device`` re-applies its module-level ``NUM_THREADS`` every time a trainer or
    validator starts, so patch that value as well as the current setting.
    """
    import torch
    from ultralytics.utils import torch_utils

    n = os.cpu_count() or 1
    torch_utils.NUM_THREADS = n
    torch.set_num_threads(n)


def train(data_yaml: Path, out: Path, args: argparse.Namespace) -> Path:
    """Train from scratch and return the path of Ultralytics' stripped best checkpoint."""
    from ultralytics import YOLO

    model = YOLO("yolo26n.yaml")
    model.train(
        data=str(data_yaml),
        epochs=args.epochs,
        imgsz=IMGSZ,
        batch=args.batch,
        workers=args.workers,
        device="cpu",
        seed=0,
        deterministic=True,
        amp=False,
        plots=False,
        cos_lr=True,
        close_mosaic=args.close_mosaic,
        nbs=args.batch,  # one optimizer step per batch: few images, so more steps help
        scale=0.3,
        project=str(out),
        name="train",
        exist_ok=True,
        verbose=True,
    )
    return Path(model.trainer.best)


def evaluate(weights: Path, data_yaml: Path, batch: int, family: str = "yolo") -> dict[str, float]:
    """Ultralytics' own validation mAP of a checkpoint on a data YAML's val split."""
    from ultralytics import RTDETR, YOLO

    metrics = (RTDETR if family == "rtdetr" else YOLO)(str(weights)).val(
        data=str(data_yaml), split="val", imgsz=IMGSZ, batch=batch, device="cpu", plots=False, verbose=False
    )
    return {"map50": round(float(metrics.box.map50), 4), "map50_95": round(float(metrics.box.map), 4)}


def publish(best: Path, weights_dir: Path, info: dict, name: str = "demo", limit: int = MAX_WEIGHTS_BYTES) -> Path:
    """Copy the checkpoint (fp16 after stripping) as <name>.pt and write <name>.json next to it."""
    size = best.stat().st_size
    if size > limit:
        raise SystemExit(f"{best} is {size} bytes, over the {limit} byte limit")
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / f"{name}.pt"
    shutil.copyfile(best, target)
    (weights_dir / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out.resolve()
    val_yaml, test_yaml = make_data(out, args)
    import ultralytics  # noqa: F401  (imported before fixing the thread count it changes)

    use_all_cores()
    start = time.perf_counter()
    best = train(val_yaml, out, args)
    train_seconds = round(time.perf_counter() - start, 1)
    info = {
        "classes": list(CLASSES),
        "imgsz": IMGSZ,
        "model": "yolo26n.yaml",
        "train_seconds": train_seconds,
        "epochs": args.epochs,
        "train_images": args.train_images,
        "seeds": SEEDS,
        "val": {"images": args.val_images, **evaluate(best, val_yaml, args.batch)},
        "test": {"images": args.test_images, **evaluate(best, test_yaml, args.batch)},
    }
    target = publish(best, args.weights_dir, info)
    print(json.dumps(info, indent=2))
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
