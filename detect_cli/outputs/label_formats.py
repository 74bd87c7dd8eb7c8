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


def frame_name(result: ImageResult, video: str | None = None) -> PurePosixPath:
    """A video frame as an image file: `<video>/frame_000012.jpg` (the frame number in the video,
    0-based, as in the records; `frame_` and six digits as CVAT names a video's frames). `video`: the
    video's name in the file, when `UniqueNames` gave it another than its own."""
    folder = safe_relative_name(video or input_name(result))
    return folder.with_suffix("") / f"frame_{result.frame or 0:06d}.jpg"


class UniqueNames:
    """The name each input has in a label file: its relative name (`input_name`), or, when another
    input of the run already has that name (`A/x.jpg` and `B/x.jpg` given as two folders; letter case
    aside, as macOS and Windows see files), `x_1.jpg`, `x_2.jpg`... as `--format yolo` names them, so
    that no two inputs share one name and one's boxes never land on the other's image. The same
    input (by its source) keeps its name. One entry per distinct name: memory grows with the inputs,
    as the label file itself does."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}  # lower-cased name -> the source that has it
        self._given: dict[str, str] = {}  # source -> its name (a video's frames ask once each)
        self.renamed = 0  # inputs named apart from another of the same name

    def of(self, result: ImageResult) -> str:
        known = self._given.get(result.source)
        if known is not None:
            return known
        name = PurePosixPath(input_name(result))
        candidate, n = name, 0
        while self._owners.setdefault(candidate.as_posix().lower(), result.source) != result.source:
            n += 1
            candidate = name.with_name(f"{name.stem}_{n}{name.suffix}")
        self.renamed += n > 0
        self._given[result.source] = candidate.as_posix()
        return candidate.as_posix()

    def notes(self, where: str) -> list[str]:
        """The line to say after the run when inputs were named apart."""
        if not self.renamed:
            return []
        return [
            f"{self.renamed} input(s) had the name of another input of the run (e.g. x.jpg in two folders): "
            f"{where} names them apart as x_1.jpg, x_2.jpg...; put those files under these names for the tool"
        ]


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
