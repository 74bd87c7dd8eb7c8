"""Formats for annotation tools: predictions to review and correct, then train on.

- yolo (`yolo_dataset.py`): a folder Ultralytics trains from: images/, labels/ (one .txt per image,
  class cx cy w h normalised), data.yaml and classes.txt.
- coco-dataset (`coco_dataset.py`): one COCO file with images, categories and annotations (scores
  kept), file names relative to the inputs' folder, as CVAT, FiftyOne and COCO tools import it.
- labelstudio (`labelstudio.py`): Label Studio tasks with `predictions`, importable as they are.

Each is a `Sink` (`formats.open_sink` opens them; this module holds what they share): it streams
to disk as the run goes and holds detections only; failed inputs are left out (they are in the
summary and on stderr). Unlike the record formats, these sinks take the `ImageResult` itself:
they need the relative name of each input (and the yolo folder its pixels, for video frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from detect_cli.outputs.image_saver import safe_relative_name

if TYPE_CHECKING:
    from detect_cli.core.results import ImageResult


@dataclass(frozen=True)
class LabelOptions:
    """save_conf: yolo labels get a 6th column, the confidence (Ultralytics then no longer trains on
    them: review tools read it). image_root: where the reviewing tool finds the images, a path or URL
    prefix put before each input's relative name (Label Studio's `data`, COCO's `coco_url`)."""

    save_conf: bool = False
    image_root: str | None = None


def input_name(result: ImageResult) -> str:
    """The input's name relative to the folder it was found in (a file given alone: its own name),
    the name a reviewing tool finds it under beside the others."""
    return result.name.replace("\\", "/").lstrip("/") or PurePosixPath(result.source).name


def frame_name(result: ImageResult) -> PurePosixPath:
    """A video frame as an image file: `<video>/frame_000012.jpg` (the frame number in the video,
    0-based, as in the records; `frame_` and six digits as CVAT names a video's frames)."""
    video = safe_relative_name(input_name(result))
    return video.with_suffix("") / f"frame_{result.frame or 0:06d}.jpg"


def image_reference(root: str | None, name: str) -> str:
    """`root` + `name`; for a URL root (http(s)://, or a path on Label Studio's server such as
    /data/local-files/?d=) the name is percent-encoded, slashes kept."""
    if root is None:
        return name
    if root.startswith(("http://", "https://", "/")):
        name = quote(name, safe="/")
    return root + name if root.endswith(("/", "=")) else f"{root}/{name}"


def category_names(meta: dict[str, Any]) -> dict[int, str]:
    """The model's classes from the run's metadata: id -> name."""
    names = meta.get("model", {}).get("names", {})
    return {int(k): str(v) for k, v in names.items()}
