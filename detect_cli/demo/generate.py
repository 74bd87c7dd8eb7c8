"""Write a synthetic shapes dataset: ``python -m detect_cli.demo.generate OUT_DIR --n 200 --seed 123``.

``--size WxH`` makes the pictures another shape (``640x480``, ``1280x720``, portrait ``480x640``; one
number is a square), with labels at that size.

``--large`` writes large scenes for sliced inference instead (1920x1920 and 3000x2000 in turn, many
shapes of 10-40 px: ``detect_cli/demo/large_scenes.py``); ``--video N`` a moving-shapes video of N
frames and its MOT ground truth (``videos.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from detect_cli.demo.scenes import size_argument, write_dataset


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Generate synthetic shapes images with YOLO and COCO labels.")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--n", type=int, default=200, help="number of images")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument(
        "--size",
        type=size_argument,
        default=None,
        help="WIDTHxHEIGHT (640x480, 1280x720, 480x640) or one side (default 320); with --large, the one size "
        "of every scene",
    )
    p.add_argument("--ext", choices=("png", "jpg"), default="png", help="image format (jpg: quality 95)")
    p.add_argument(
        "--large",
        action="store_true",
        help="large scenes for sliced inference (1920x1920 and 3000x2000 in turn, unless --size or --sizes)",
    )
    p.add_argument("--sizes", default=None, help="with --large: WxH sizes taken in turn, e.g. 1600x1200,1280x1280")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality with --ext jpg")
    p.add_argument(
        "--dense",
        action="store_true",
        help="with --large: 8-10 shapes per 320x320 area instead of 2-4 (a 3000x2000 scene holds 450-600)",
    )
    p.add_argument(
        "--video",
        type=int,
        metavar="FRAMES",
        help="write OUT_DIR/shapes.mp4 (moving shapes) and "
        "shapes_gt.txt (MOT ground truth) with this many frames, instead of images",
    )
    args = p.parse_args(argv)
    if args.video:
        from detect_cli.demo.videos import write_video

        video, gt = write_video(args.out_dir / "shapes.mp4", args.video, args.seed, args.size or 320)
        print(f"wrote {args.video} frames to {video} and ground truth to {gt}")
        return
    if args.large:
        from detect_cli.demo.large_scenes import DENSE, LARGE_SIZES, SHAPES_PER_TILE, write_large_dataset

        sizes = tuple(size_argument(s) for s in args.sizes.split(",")) if args.sizes else ()
        sizes = sizes or ((args.size,) if args.size else ())
        out = write_large_dataset(
            args.out_dir,
            args.n,
            args.seed,
            args.ext,
            args.quality,
            sizes or LARGE_SIZES,
            DENSE if args.dense else SHAPES_PER_TILE,
        )
    else:
        out = write_dataset(args.out_dir, args.n, args.seed, args.size or 320, args.ext)  # quality 95
    print(f"wrote {args.n} images to {out}")


if __name__ == "__main__":
    main()
