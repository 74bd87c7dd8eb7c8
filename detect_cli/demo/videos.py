"""Moving-shapes videos with ground-truth tracks, for `--track` and `evaluate --tracks`.

A static background from `scenes` (the demo detector's world), and shapes of `scenes.CLASSES`
that move in straight lines: they enter across the border, cross, overlap one another and leave;
later shapes occlude earlier ones. As in `scenes`, an owner map records who is visible where:
a ground-truth row is written for an object in a frame when at least `scenes.MIN_VISIBLE` of it
is visible, with its visible box. Each frame gets fresh camera noise.

Frames are 320x320 unless asked for another size (a side, or (width, height): a 16:9 clip is
1280x720); as in `scenes`, shapes, speeds and the smallest box kept scale with the long side over 320.

Ground truth is MOTChallenge's gt.txt: `frame,id,x,y,w,h,1,class,visibility` (frame and id 1-based,
class the 0-based class index). Frame `t` of video `seed` depends only on `(seed, t)` and the
object list, so the same seed gives the same files.

    python -m detect_cli.demo.videos OUT.mp4 --frames 100 --seed 7   (writes OUT.mp4 and OUT_gt.txt)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detect_cli.demo.scenes import (
    CLASSES,
    MIN_BOX,
    MIN_VISIBLE,
    PAD,
    Size,
    _background,
    _contrasting_colour,
    _shape_mask,
    shape_scale,
    size_argument,
)

R_RANGE = (14.0, 34.0)  # object radii: well inside what the demo detector was trained on (6..60)
SPEED_RANGE = (1.0, 3.5)  # pixels per frame
NOISE_SIGMA = 4.0


@dataclass(frozen=True)
class Mover:
    """One object: class, radius, colour, where it is at frame `t0`, its velocity, and frames [t0, t1)."""

    track_id: int
    cls: int
    r: float
    colour: tuple[int, int, int]
    x0: float
    y0: float
    vx: float
    vy: float
    t0: int
    t1: int

    def at(self, t: int) -> tuple[float, float]:
        return self.x0 + self.vx * (t - self.t0), self.y0 + self.vy * (t - self.t0)


def random_movers(
    rng: np.random.Generator, background: np.ndarray, n_frames: int, *, concurrent: int = 6
) -> list[Mover]:
    """Objects that enter across a random border and cross to the other side, about `concurrent` at a time;
    a few start inside the frame at the first frame."""
    height, width = background.shape[:2]
    scale = shape_scale((width, height))
    movers: list[Mover] = []
    mean_crossing = (width + height) / 2 / (np.mean(SPEED_RANGE) * scale)
    spawn_every = max(1.0, mean_crossing / concurrent)
    t = -int(mean_crossing)  # objects already under way at frame 0
    while t < n_frames:
        r = float(rng.uniform(*R_RANGE)) * scale
        speed = float(rng.uniform(*SPEED_RANGE)) * scale
        side = int(rng.integers(4))
        across = height if side < 2 else width  # entering from the left or right: placed along the height
        along = float(rng.uniform(0.15, 0.85) * across)
        angle = float(rng.uniform(-0.6, 0.6))
        start = {0: (-r, along), 1: (width + r, along), 2: (along, -r), 3: (along, height + r)}[side]
        heading = {0: 0.0, 1: np.pi, 2: np.pi / 2, 3: -np.pi / 2}[side] + angle
        vx, vy = speed * np.cos(heading), speed * np.sin(heading)
        life = int(np.ceil(((width if side < 2 else height) + 2 * r) * 1.5 / speed))
        if t + life > 0:
            movers.append(_mover(rng, background, len(movers) + 1, r, start, (vx, vy), t, t + life))
        t += max(1, int(rng.exponential(spawn_every)))
    return movers


def crossing_movers(background: np.ndarray, n_frames: int) -> list[Mover]:
    """Two objects of different classes that cross in the middle, one passing in front of the other."""
    rng = np.random.default_rng(0)
    height, width = background.shape[:2]
    r = max(width, height) * 0.09
    speed = (width + 2 * r) / n_frames
    y = height / 2
    return [
        _mover(rng, background, 1, r, (r, y - r * 0.4), (speed * 0.8, 0.0), 0, n_frames, cls=0),
        _mover(rng, background, 2, r, (width - r, y + r * 0.4), (-speed * 0.8, 0.0), 0, n_frames, cls=1),
    ]


def _mover(
    rng: np.random.Generator,
    background: np.ndarray,
    track_id: int,
    r: float,
    start: tuple[float, float],
    velocity: tuple[float, float],
    t0: int,
    t1: int,
    cls: int | None = None,
) -> Mover:
    cls = int(rng.integers(len(CLASSES))) if cls is None else cls
    colour = _contrasting_colour(rng, background.reshape(-1, 3))
    return Mover(
        track_id, cls, r, tuple(int(c) for c in colour.round()), start[0], start[1], velocity[0], velocity[1], t0, t1
    )


def render_frame(background: np.ndarray, movers: list[Mover], t: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Frame `t` and its MOT ground-truth rows."""
    height, width = background.shape[:2]
    scale = shape_scale((width, height))
    pad = round(PAD * max(scale, 1.0))
    image = background.copy()
    owner = np.full((height, width), -1, np.int32)
    areas: dict[int, int] = {}
    for mover in movers:
        if not mover.t0 <= t < mover.t1:
            continue
        x, y = mover.at(t)
        shape_rng = np.random.default_rng([seed, mover.track_id])  # the same angle every frame
        full = _shape_mask(shape_rng, mover.cls, x + pad, y + pad, mover.r, (width + 2 * pad, height + 2 * pad))
        mask = full[pad:-pad, pad:-pad].astype(bool)
        if not mask.any():
            continue
        image[mask] = mover.colour
        owner[mask] = mover.track_id
        areas[mover.track_id] = int(full.sum())
    rows = []
    by_id = {m.track_id: m for m in movers}
    for track_id, area in areas.items():
        ys, xs = np.nonzero(owner == track_id)
        visible = len(xs) / max(area, 1)
        if visible < MIN_VISIBLE:
            continue
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        if min(x2 - x1, y2 - y1) >= MIN_BOX * scale:
            rows.append(f"{t + 1},{track_id},{x1},{y1},{x2 - x1},{y2 - y1},1,{by_id[track_id].cls},{visible:.3f}\n")
    noise = np.random.default_rng([seed, 1_000_000 + t]).normal(0, NOISE_SIGMA, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), rows


def write_video(
    path: Path, n_frames: int = 100, seed: int = 7, size: Size = 320, fps: float = 25.0, *, crossing: bool = False
) -> tuple[Path, Path]:
    """Write the video (mp4v in .mp4, MJPG in .avi; `size` a side or (width, height)) and `<stem>_gt.txt`
    beside it; return both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    background = _background(rng, size)
    movers = crossing_movers(background, n_frames) if crossing else random_movers(rng, background, n_frames)
    fourcc = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    height, width = background.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {fourcc} video to {path}")
    gt_path = path.with_name(f"{path.stem}_gt.txt")
    try:
        with open(gt_path, "w", encoding="utf-8") as gt:
            for t in range(n_frames):
                frame, rows = render_frame(background, movers, t, seed)
                writer.write(frame)
                gt.writelines(rows)
    finally:
        writer.release()
    return path, gt_path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write a moving-shapes video with MOT ground-truth tracks.")
    p.add_argument("out", type=Path, help="video file (.mp4 or .avi)")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--size", type=size_argument, default=(320, 320), help="WIDTHxHEIGHT (1280x720) or one side (320)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--crossing", action="store_true", help="two shapes crossing, instead of random traffic")
    args = p.parse_args(argv)
    video, gt = write_video(args.out, args.frames, args.seed, args.size, args.fps, crossing=args.crossing)
    print(f"wrote {args.frames} frames to {video} and ground truth to {gt}")


if __name__ == "__main__":
    main()
