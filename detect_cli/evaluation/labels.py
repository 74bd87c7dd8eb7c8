"""Ground truth for `evaluate` and `compare`: a COCO ground-truth JSON or a folder of YOLO txt files
(`cls cx cy w h`, normalised; a polygon `cls x1 y1 x2 y2 ...` counts as its bounding box; a missing
txt means an image without objects). Every .txt of a folder is read and checked when the labels are
read, before any model runs (`classes.txt`, LabelImg's list of names, is left alone).

Labels are hostile input like images: every record is checked, and a bad one is a `ConfigError`
that names the file and the record, e.g.
`annotations.json: annotation #3 (id 17): bbox must be 4 numbers [x, y, w, h], got [1, 2]`
(records count from 1, YOLO lines too).

Long because COCO and YOLO labels are both read and checked here, each field with its own message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.errors import ConfigError
from detect_cli.core.guarded_read import UnreadableFile, read_text
from detect_cli.core.polygons import MAX_PIXELS

if TYPE_CHECKING:
    from detect_cli.evaluation.predictions import Prediction

NORMALISED_SLACK = 1e-3  # YOLO txt values rounded to a few decimals may sit just past 0 or 1
YOLO_TXT_MAX_BYTES = 16 * 2**20  # some 400,000 boxes for one image
COCO_MAX_BYTES = 2 * 2**30  # COCO's own train2017 annotations are 448 MiB
CLASS_LIST = "classes.txt"  # LabelImg writes its class names beside the labels: not a label file


class Labels:
    """Ground truth by image name, with class ids already in the model's numbering."""

    def __init__(
        self,
        boxes: dict[str, Detections] | None,
        names: dict[int, str],
        folder: Path | None = None,
        yolo_rows: dict[str, np.ndarray] | None = None,
    ) -> None:
        self._boxes = boxes
        self.names = names
        self._folder = folder
        self._yolo_rows = yolo_rows  # a YOLO folder's files, checked: relative .txt path -> (N, 5) normalised rows
        self._by_base: dict[str, Detections] | None = None
        self.notes: list[str] = []  # what the user should know about how the labels were read

    @classmethod
    def load(cls, path: Path, model_names: dict[int, str]) -> Labels:
        return cls.read(path).for_model(model_names)

    @classmethod
    def read(cls, path: Path) -> Labels:
        """Read and check the labels; class ids stay the labels' own until `for_model`."""
        path = Path(path)
        if path.is_dir():
            rows = _read_yolo_folder(path)  # every file checked now, before any model runs
            if not rows:
                raise ConfigError(
                    f"--labels {path}: no .txt label files in this folder",
                    "YOLO labels are one <image name>.txt per image; or pass a COCO .json",
                )
            return cls(None, {}, path, rows)
        if path.is_file() and path.suffix.lower() == ".json":
            return _from_coco(path)
        if not path.exists():
            raise ConfigError(f"--labels {path}: no such file or folder")
        raise ConfigError(f"--labels {path}: expected a COCO .json file or a folder of YOLO .txt labels")

    def for_model(self, model_names: dict[int, str]) -> Labels:
        """The same labels with class ids in the model's numbering: COCO categories are matched by
        name (case-insensitive); a category the model lacks keeps its id. YOLO ids are the model's."""
        if self._boxes is None:
            return Labels(None, dict(model_names), self._folder, self._yolo_rows)
        by_name = {n.lower(): i for i, n in model_names.items()}
        to_model = {cid: by_name.get(name.lower(), cid) for cid, name in self.names.items()}
        boxes = {
            name: Detections(d.xyxy, d.confidence, [to_model.get(int(c), int(c)) for c in d.class_id])
            for name, d in self._boxes.items()
        }
        mapped = Labels(boxes, {to_model[cid]: name for cid, name in self.names.items()})
        for cid, name in self.names.items():
            if name.lower() in by_name:
                continue
            if cid in model_names:  # same id, another name: the scores would mix two classes without a word
                mapped.notes.append(
                    f"category {name!r} (id {cid}) is not a class of the model; its labels count "
                    f"as the model's class {cid} {model_names[cid]!r}"
                )
            else:
                mapped.notes.append(f"category {name!r} (id {cid}) is not a class of the model (nothing can match it)")
        return mapped

    def lookup(self, model_names: dict[int, str]) -> Callable[[str, int, int], Detections | None]:
        """A function from an image's name, width and height to its labels in the model's numbering
        (None when there are none): what the INT8 gate scores held-out images with."""
        from detect_cli.evaluation.predictions import Prediction

        mapped = self.for_model(model_names)
        return lambda name, width, height: mapped.find(Prediction(name, name, width, height, Detections.empty()))

    def find(self, prediction: Prediction) -> Detections | None:
        """The labels of one image, or None when there are none for it."""
        rel = PurePosixPath(prediction.name)
        if self._boxes is not None:
            for key in (rel.as_posix(), rel.name):
                if key in self._boxes:
                    return self._boxes[key]
            if self._by_base is None:
                self._by_base = {PurePosixPath(k).name: v for k, v in self._boxes.items()}
            return self._by_base.get(rel.name)
        assert self._folder is not None
        if self._yolo_rows is None:
            self._yolo_rows = _read_yolo_folder(self._folder)
        for candidate in (rel.with_suffix(".txt").as_posix(), rel.stem + ".txt"):
            if candidate in self._yolo_rows:
                return _yolo_pixels(self._yolo_rows[candidate], prediction.width, prediction.height)
        return Detections.empty()  # YOLO convention: no txt file, no objects


# --- YOLO txt ---


def read_yolo_txt(path: Path, width: int, height: int) -> Detections:
    """Boxes in pixels of a (width x height) image."""
    return _yolo_pixels(_yolo_file_rows(path), width, height)


def _read_yolo_folder(folder: Path) -> dict[str, np.ndarray]:
    """Every .txt under `folder` (relative POSIX path -> its checked rows); the first bad file or line
    is a ConfigError naming it. A .txt that is not a regular file (a FIFO, a link to /dev/zero) is
    an error too, never "no objects"."""
    from detect_cli.inputs.sources import walk_entries

    rows: dict[str, np.ndarray] = {}
    for entry in walk_entries(folder, recursive=True, all_files=True, suffixes=frozenset({".txt"})):
        if entry.path.suffix.lower() != ".txt" or entry.path.name == CLASS_LIST:
            continue
        if entry.problem:
            raise ConfigError(f"{entry.path}: {entry.problem}", "label files are regular .txt files")
        rows[entry.path.relative_to(folder).as_posix()] = _yolo_file_rows(entry.path)
    return rows


def _yolo_file_rows(path: Path) -> np.ndarray:
    text = _read_text(path, YOLO_TXT_MAX_BYTES)
    rows = [_yolo_row(path, number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return np.array(rows, np.float64).reshape(-1, 5)


def _yolo_pixels(r: np.ndarray, width: int, height: int) -> Detections:
    if not len(r):
        return Detections.empty()
    cls, cx, cy, w, h = r[:, 0], r[:, 1] * width, r[:, 2] * height, r[:, 3] * width, r[:, 4] * height
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return Detections(xyxy, np.ones(len(r)), cls.astype(np.int64))


def _yolo_row(path: Path, number: int, line: str) -> list[float]:
    """One label line as [cls, cx, cy, w, h] (normalised)."""

    def bad(what: str) -> NoReturn:
        raise ConfigError(f"{path}: line {number}: {what}, got {_clip(line.strip())!r}")

    try:
        values = [float(v) for v in line.split()]
    except ValueError:
        bad("expected numbers 'cls cx cy w h'")
    if not all(math.isfinite(v) for v in values):
        bad("values must be finite numbers")
    if len(values) == 5:
        cls, cx, cy, w, h = values
    elif len(values) >= 7 and len(values) % 2 == 1:  # a segmentation polygon: its bounding box
        xs, ys = values[1::2], values[2::2]
        cls, cx, cy = values[0], (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        w, h = max(xs) - min(xs), max(ys) - min(ys)
    else:
        bad(f"expected 5 numbers 'cls cx cy w h' (or a polygon 'cls x1 y1 x2 y2 ...'), not {len(values)}")
    if cls < 0 or cls != int(cls):
        bad("the class id must be a whole number >= 0")
    if w < 0 or h < 0:
        bad("width and height must not be negative")
    lo, hi = -NORMALISED_SLACK, 1 + NORMALISED_SLACK
    if not all(lo <= v <= hi for v in values[1:]):
        bad("coordinates must be normalised to 0..1 by the image size (pixel coordinates?)")
    return [cls, cx, cy, w, h]


# --- COCO JSON ---


def _from_coco(path: Path) -> Labels:
    data = _read_json(path)
    images = _coco_images(path, _coco_list(path, data, "images"))
    categories = _coco_categories(path, _coco_list(path, data, "categories"))
    annotations = _coco_list(path, data, "annotations")
    grouped: dict[Any, list[tuple[list[float], int]]] = {i: [] for i in images}
    for n, ann in enumerate(annotations, start=1):
        box, category, crowd = _coco_annotation(path, n, ann, images, categories)
        if not crowd:
            grouped[ann["image_id"]].append((box, category))
    boxes = {}
    for image_id, anns in grouped.items():
        xywh = np.array([b for b, _ in anns], dtype=np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        boxes[images[image_id]] = Detections(xyxy, np.ones(len(anns)), [c for _, c in anns])
    return Labels(boxes, categories)


def _read_json(path: Path) -> Any:
    text = _read_text(path, COCO_MAX_BYTES)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a COCO ground-truth file (nested too deeply)") from None


def _coco_list(path: Path, data: Any, key: str) -> list[Any]:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: not a COCO ground-truth file (expected a JSON object with 'images', "
            f"'annotations' and 'categories', got {_json_type(data)})"
        )
    if key not in data:
        raise ConfigError(f"{path}: not a COCO ground-truth file (no '{key}' list)")
    if not isinstance(data[key], list):
        raise ConfigError(f"{path}: '{key}' must be a list, got {_json_type(data[key])}")
    return data[key]


def _coco_images(path: Path, records: list[Any]) -> dict[Any, str]:
    images: dict[Any, str] = {}
    seen_names: dict[str, Any] = {}
    for n, img in enumerate(records, start=1):
        where = _where("image", n, img)
        image_id = _field(path, where, img, "id", (int, str), "an integer or a string")
        name = _field(path, where, img, "file_name", str, "a string")
        if image_id in images:
            raise ConfigError(f"{path}: {where}: id {image_id!r} is used by an earlier image too")
        if name in seen_names:
            raise ConfigError(f"{path}: {where}: file_name {name!r} is used by image id {seen_names[name]!r} too")
        images[image_id], seen_names[name] = name, image_id
    return images


def _coco_categories(path: Path, records: list[Any]) -> dict[int, str]:
    categories: dict[int, str] = {}
    for n, cat in enumerate(records, start=1):
        where = _where("category", n, cat)
        cid = _field(path, where, cat, "id", int, "an integer")
        name = _field(path, where, cat, "name", str, "a string")
        if cid in categories:
            raise ConfigError(f"{path}: {where}: id {cid} is used by an earlier category too")
        categories[cid] = name
    return categories


def _coco_annotation(
    path: Path, n: int, ann: Any, images: dict[Any, str], categories: dict[int, str]
) -> tuple[list[float], int, bool]:
    """(bbox [x, y, w, h], category id, is crowd) of one checked annotation."""
    where = _where("annotation", n, ann)
    image_id = _field(path, where, ann, "image_id", (int, str), "an integer or a string")
    if image_id not in images:
        raise ConfigError(f"{path}: {where}: image_id {image_id!r} is not in 'images'")
    category = _field(path, where, ann, "category_id", int, "an integer")
    if category not in categories:
        raise ConfigError(f"{path}: {where}: category_id {category} is not in 'categories'")
    box = ann.get("bbox")
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) and math.isfinite(v) for v in box)):
        raise ConfigError(f"{path}: {where}: bbox must be 4 numbers [x, y, w, h], got {_clip(json.dumps(box))}")
    if box[2] < 0 or box[3] < 0:
        raise ConfigError(f"{path}: {where}: bbox width and height must not be negative, got {json.dumps(box)}")
    if not all(abs(v) <= MAX_PIXELS for v in box):  # float32 makes 1e308 inf; no picture is that big
        raise ConfigError(
            f"{path}: {where}: bbox {_clip(json.dumps(box))} reaches past {MAX_PIXELS:,} pixels",
            "COCO boxes are [x, y, width, height] in the image's pixels",
        )
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1):  # True and False compare equal to 1 and 0
        raise ConfigError(f"{path}: {where}: iscrowd must be 0 or 1, got {_clip(json.dumps(crowd))}")
    return [float(v) for v in box], category, bool(crowd)


def _field(path: Path, where: str, record: Any, key: str, kinds: type | tuple[type, ...], wanted: str) -> Any:
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: {where}: must be a JSON object, got {_json_type(record)}")
    if key not in record:
        raise ConfigError(f"{path}: {where}: no '{key}'")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError(f"{path}: {where}: '{key}' must be {wanted}, got {_clip(json.dumps(value))}")
    return value


def _where(kind: str, n: int, record: Any) -> str:
    if not isinstance(record, dict):
        return f"{kind} #{n}"
    return f"{kind} #{n} (id {_clip(json.dumps(record['id']))})" if "id" in record else f"{kind} #{n}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_text(path: Path, limit: int) -> str:
    try:
        return read_text(path, limit)  # a BOM from Windows editors is not part of the labels
    except UnreadableFile as exc:
        raise ConfigError(f"{path}: {'cannot read: ' if exc.os_error else ''}{exc}") from None
