"""`--format coco-dataset`: the predictions as a COCO dataset file, for CVAT, FiftyOne and COCO tools.

`--format coco` is our results in COCO's shape, for scoring (`loadRes`): every input as it was given
(full paths, URLs), ids by run position, failed inputs under `errors`. A dataset is what the tools
*import*: `file_name` relative to the folder the images are in (as FiftyOne joins it to its
`data_path`, and CVAT matches it to a task's files), `info` and `licenses`, ids from 1, no error
list. Two inputs of one name (`A/x.jpg`, `B/x.jpg` as two folders) are named apart, `x.jpg` and
`x_1.jpg`, as `--format yolo` names them (`label_formats.UniqueNames`). Scores are kept on every
annotation (`score`: FiftyOne's confidence, Datumaro's attribute).

Videos: a frame is an image named `<video>/frame_000012.jpg` (as `--format yolo` writes it, and
CVAT names frames), with `video_id` and `frame_id` (0-based) and a `videos` list, as COCO-VID and
TAO have them. With `--track`, an annotation has `track_id`, and `attributes.track_id` as CVAT and
Datumaro carry it. `--image-root` adds each image's `coco_url` (that prefix + its name).

Streamed: images go out as they come, annotations to a temporary file that is copied in at the
end, so memory stays flat however many boxes; the file is complete once the run ends (Ctrl-C too).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from typing import IO, Any

from detect_cli import __version__
from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.outputs.label_formats import LabelOptions, UniqueNames, category_names, frame_name, image_reference
from detect_cli.outputs.records import SCHEMA_VERSION, image_record
from detect_cli.outputs.sinks import Sink, dumps, rounded, stream_label


class CocoDatasetSink(Sink):
    def __init__(self, stream: IO[str], meta: dict[str, Any], options: LabelOptions) -> None:
        super().__init__(stream, meta)
        self.options = options
        self.categories = category_names(meta)
        self.videos: dict[tuple[int, str], dict[str, Any]] = {}
        self.names = UniqueNames()  # A/x.jpg and B/x.jpg: x.jpg and x_1.jpg
        self.images = self.annotations = 0
        self._closed = False
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="attn-detect-coco-")
        info = {
            "description": f"attn-detect predictions of {meta.get('model', {}).get('spec', 'a model')}",
            "version": __version__,
            "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "attn_detect": {"schema_version": SCHEMA_VERSION, **meta},
        }
        self._put('{"info":' + dumps(rounded(info)) + ',"licenses":[],"images":[\n')

    def write(self, result: ImageResult) -> None:
        if not result.ok:
            return
        record = rounded(image_record(result))
        self.images += 1
        image: dict[str, Any] = {"id": self.images, "width": record["width"], "height": record["height"]}
        name = self.names.of(result)
        if result.frame is None:
            image["file_name"] = name
        else:
            video = self.videos.setdefault(
                (result.index, result.source),
                {"id": len(self.videos) + 1, "name": name, "width": record["width"], "height": record["height"]},
            )
            image.update(file_name=frame_name(result, name).as_posix(), video_id=video["id"], frame_id=result.frame)
        if self.options.image_root is not None:
            image["coco_url"] = image_reference(self.options.image_root, image["file_name"])
        self._put(("," if self.images > 1 else "") + dumps(image) + "\n")
        lines = []
        for det in record["detections"]:
            self.categories.setdefault(det["class_id"], det["class_name"])
            x1, y1, x2, y2 = det["box"]
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            self.annotations += 1
            annotation = {
                "id": self.annotations,
                "image_id": self.images,
                "category_id": det["class_id"],
                "bbox": [x1, y1, w, h],
                "area": round(w * h, 2),
                "iscrowd": 0,
                "score": det["confidence"],
            }
            if det.get("track_id") is not None:  # top-level as in TAO/COCO-VID; CVAT and Datumaro read attributes
                annotation.update(track_id=det["track_id"], attributes={"track_id": det["track_id"]})
            lines.append(("," if self.annotations > 1 else "") + dumps(annotation) + "\n")
        try:
            self._spool.write("".join(lines))
        except OSError as exc:
            raise ConfigError(
                f"--format coco-dataset: cannot write its temporary file: {exc.strerror or exc}"
            ) from None

    def notes(self) -> list[str]:
        return self.names.notes("the dataset's file_name")

    def close(self, summary: Any) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._put('],"annotations":[\n')
            self._spool.seek(0)
            try:
                shutil.copyfileobj(self._spool, self.stream, 1 << 20)
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise ConfigError(f"{stream_label(self.stream)}: cannot write: {exc.strerror or exc}") from None
            categories = [{"id": i, "name": n, "supercategory": ""} for i, n in sorted(self.categories.items())]
            tail = '],"categories":' + dumps(categories)
            if self.videos:
                tail += ',"videos":' + dumps(list(self.videos.values()))
            self._put(tail + "}\n")
        finally:
            self._spool.close()
