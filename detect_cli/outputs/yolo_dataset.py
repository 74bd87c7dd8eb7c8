"""`--format yolo --out DIR/`: the predictions as a YOLO dataset, a training set once reviewed.

    DIR/data.yaml          the classes, train/val: images (Ultralytics: `yolo train data=DIR/data.yaml`)
    DIR/classes.txt        one class name a line, in id order (Label Studio's and CVAT's YOLO import)
    DIR/images/<name>      each input, copied (a video frame, or a format Ultralytics cannot read: JPEG)
    DIR/labels/<name>.txt  `class cx cy w h`, normalised to 0..1 (with --save-conf a 6th column, the
                           confidence); an empty file for an image without boxes

Names mirror the inputs as `--save` names them (sub-folders kept, a second `a.jpg` becomes `a_1.jpg`);
a video's frames go to `<video>/frame_000012.jpg`. The folder must be new or empty, and every file
is created exclusively, so nothing there before the run is replaced. Images are copied, not linked:
a tool that edits them in the dataset cannot change the originals. Boxes are the records' (rounded
to 0.01 px), clipped to the image, so the labels agree with the other formats and Ultralytics'
loader accepts each one (it drops an image whose label leaves 0..1). Tracks are not kept: the
format has no field for them (use coco-dataset, labelstudio or mot).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import yaml

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.inputs.sources import is_url
from detect_cli.outputs.guards import check_out_name
from detect_cli.outputs.image_saver import safe_relative_name
from detect_cli.outputs.label_formats import LabelOptions, category_names, frame_name, input_name
from detect_cli.outputs.records import image_record
from detect_cli.outputs.sinks import Sink, rounded

# Copied as they are: what both we and Ultralytics' dataset loader read (it lists images by suffix)
COPYABLE = frozenset({".bmp", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp"})
JPEG_QUALITY = 95


def check_label_folder(folder: Path, flag: str = "--out") -> None:
    """Refuse a folder that holds anything already (or is a file): its files would mix with the
    dataset's, and data.yaml or a label could be one of the user's."""
    check_out_name(folder, folder=True, flag=flag)
    try:
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{flag} {folder}: exists and is not a folder", "give a new or empty folder")
        if folder.is_dir() and any(os.scandir(folder)):
            raise ConfigError(
                f"{flag} {folder}: the folder is not empty (a YOLO dataset is written into it)",
                "give a new or empty folder: nothing there is ever replaced",
            )
    except OSError as exc:
        raise ConfigError(f"{flag} {folder}: cannot use it: {exc.strerror or exc}") from None


class YoloDatasetSink(Sink):
    wants_pixels = True  # a video frame (or an image downloaded) is written from its pixels

    def __init__(self, folder: Path, meta: dict[str, Any], options: LabelOptions) -> None:
        super().__init__(None, meta)  # type: ignore[arg-type]  # files, not one stream
        check_label_folder(folder)
        self.folder, self.options = Path(folder), options
        self.names = category_names(meta)
        self._taken: set[str] = set()
        self.images = self.labels = 0
        with self._writing():
            (self.folder / "images").mkdir(parents=True, exist_ok=True)
            (self.folder / "labels").mkdir(exist_ok=True)
            _create(self.folder / "data.yaml", data_yaml(self.names))
            top = max(self.names, default=-1)
            _create(
                self.folder / "classes.txt",
                "".join(f"{_one_line(self.names.get(i, str(i)))}\n" for i in range(top + 1)),
            )

    def write(self, result: ImageResult) -> None:
        if not result.ok:
            return
        record = rounded(image_record(result))
        with self._writing():
            copy_from = self._copyable(result)
            image_name = self._free_name(self._wanted_name(result, copy_from is not None))
            image_path = self.folder / "images" / image_name
            image_path.parent.mkdir(parents=True, exist_ok=True)
            if copy_from is not None:
                _copy(copy_from, image_path)
            else:
                _encode(result, image_path)
            label_path = self.folder / "labels" / image_name.with_suffix(".txt")
            label_path.parent.mkdir(parents=True, exist_ok=True)
            _create(label_path, "".join(label_lines(record, save_conf=self.options.save_conf)))
        self.images += 1
        self.labels += len(record["detections"])

    def close(self, summary: Any) -> None:
        pass  # every file is complete as soon as it is written

    def notes(self) -> list[str]:
        return [
            f"YOLO dataset written to {self.folder}: {self.images} images, {self.labels} boxes (review them, "
            f"then: yolo train data={self.folder / 'data.yaml'})"
        ]

    def _copyable(self, result: ImageResult) -> Path | None:
        if result.frame is not None or is_url(result.source):
            return None
        path = Path(result.source)
        if path.suffix.lower() not in COPYABLE or not path.is_file():
            return None  # no suffix Ultralytics lists, or gone since it was read (its pixels are written)
        return path

    @staticmethod
    def _wanted_name(result: ImageResult, copied: bool) -> PurePosixPath:
        if result.frame is not None:
            return frame_name(result)
        name = safe_relative_name(input_name(result))  # .jpg added to a name it cannot write
        return name if copied else name.with_suffix(".jpg")  # not copied: its pixels, as JPEG

    def _free_name(self, name: PurePosixPath) -> PurePosixPath:
        """A name no other image of the run has, minding that a.jpg and a.png share labels/a.txt."""
        candidate, n = name, 0
        while self._key(candidate) in self._taken or self._exists(candidate):
            n += 1
            candidate = name.with_name(f"{name.stem}_{n}{name.suffix}")
        self._taken.add(self._key(candidate))
        return candidate

    @staticmethod
    def _key(name: PurePosixPath) -> str:
        return name.with_suffix("").as_posix().lower()

    def _exists(self, name: PurePosixPath) -> bool:
        return os.path.lexists(self.folder / "images" / name) or os.path.lexists(
            self.folder / "labels" / name.with_suffix(".txt")
        )

    def _writing(self) -> _Failing:
        return _Failing(self.folder)


class _Failing:
    """OS errors while writing the dataset end the run with one line naming the folder (as a full
    disk does for the other sinks); what was written stays."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            raise ConfigError(
                f"--out {self.folder}: cannot write the YOLO dataset: {exc.strerror or exc}{where}"
            ) from None


def data_yaml(names: dict[int, str]) -> str:
    """data.yaml without a `path:` key, so Ultralytics takes the folder the file is in (the folder can move)."""
    head = (
        "# attn-detect --format yolo: a model's predictions, to review before training on them\n"
        "# (yolo train data=<this file>; split images/ into train and val once reviewed)\n"
    )
    body = {"train": "images", "val": "images", "nc": len(names), "names": dict(sorted(names.items()))}
    return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def label_lines(record: dict[str, Any], *, save_conf: bool = False) -> list[str]:
    """One YOLO line per box of an image record: class cx cy w h, normalised, the box clipped to the image."""
    width, height = record["width"], record["height"]
    lines = []
    for det in record["detections"]:
        x1, y1, x2, y2 = det["box"]
        x1, x2 = (min(max(v, 0.0), width) for v in (x1, x2))
        y1, y2 = (min(max(v, 0.0), height) for v in (y1, y2))
        values = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]
        line = f"{det['class_id']} " + " ".join(f"{v:.6f}" for v in values)
        lines.append(line + (f" {det['confidence']:.4f}\n" if save_conf else "\n"))
    return lines


def _one_line(name: str) -> str:
    return " ".join(name.split()) or "_"


def _create(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _copy(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _encode(result: ImageResult, target: Path) -> None:
    if result.image is None:
        raise ConfigError(f"--format yolo: no pixels for {result.source} to write its image", "run it locally")
    ok, encoded = cv2.imencode(".jpg", result.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ConfigError(f"--format yolo: cannot encode the image of {result.source}")
    with open(target, "xb") as fh:
        fh.write(encoded.tobytes())
