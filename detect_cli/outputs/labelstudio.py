"""`--format labelstudio`: Label Studio tasks with the predictions, to import and correct.

A JSON list of tasks. An image's task: `data.image` (where Label Studio fetches it: `--image-root`
+ the input's relative name, else the input as given: a URL imports as is), and one prediction
with `model_version`, `score` (the mean of its boxes') and a `rectanglelabels` region per box in
percent of the image, each with its `score`. A video's task: `data.video` and `videorectangle`
regions (frames 1-based, as Label Studio counts them): with `--track` one region per track, its
boxes as keyframes, a keyframe before a gap or at the end disabled (so the box is not
interpolated across frames where the track was not seen), as Label Studio's own YOLO backend
writes them; without tracks, each box a region of one keyframe.

Regions use the names of Label Studio's object-detection templates (`label` -> `image`; `box` and
`videoLabels` -> `video`). The labeling config for these names and the model's classes is written
beside `--out FILE` as `FILE.label_config.xml` (as Label Studio's converter names it), to paste into
the project's Labeling Interface. Image tasks stream as they come; a video's when it ends.
"""

from __future__ import annotations

import os
from pathlib import Path
from statistics import fmean
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from detect_cli.core.errors import ConfigError
from detect_cli.core.results import ImageResult
from detect_cli.outputs.label_formats import LabelOptions, UniqueNames, category_names, image_reference
from detect_cli.outputs.records import image_record
from detect_cli.outputs.sinks import Sink, dumps, rounded

IMAGE_NAMES = {"from_name": "label", "to_name": "image"}
VIDEO_NAMES = {"from_name": "box", "to_name": "video"}
VIDEO_LABELS = "videoLabels"


class LabelStudioSink(Sink):
    def __init__(
        self, stream: IO[str], meta: dict[str, Any], options: LabelOptions, config_path: Path | None = None
    ) -> None:
        super().__init__(stream, meta)
        self.options = options
        self.names = category_names(meta)
        self.model_version = str(meta.get("model", {}).get("spec", "attn-detect"))
        self.config_path = config_path
        self.written_config: Path | None = None
        self.tasks = 0
        self.unique = UniqueNames()  # with --image-root, A/x.jpg and B/x.jpg: x.jpg and x_1.jpg
        self.kinds: set[str] = set()
        self.local_paths = False  # an image reference Label Studio cannot fetch (a local path, no --image-root)
        self.fps: float | None = None
        self._video: _Video | None = None
        self._closed = False
        self._put("[\n")

    def write(self, result: ImageResult) -> None:
        key = (result.index, result.source)
        if self._video is not None and (result.frame is None or self._video.key != key):
            self._finish_video()
        if not result.ok:
            return
        record = rounded(image_record(result))
        if result.frame is None:
            regions = [image_region(det, record, f"b{k}") for k, det in enumerate(record["detections"])]
            self._task("image", result, regions)
        else:
            if self._video is None:
                self._video = _Video(key, result)
            self._video.add(record)

    def close(self, summary: Any) -> None:
        if self._closed:
            return
        self._closed = True
        self._finish_video()
        self._put("]\n")
        if self.config_path is not None and self.kinds:
            self.written_config = _write_free(_config_name(self.config_path), self.labeling_config())

    def notes(self) -> list[str]:
        """What the user should know to import the file (the CLI prints these after the run)."""
        out = self.unique.notes("the tasks' image/video URLs")
        if self.written_config is not None:
            out.append(
                f"Label Studio labeling config for these tasks: {self.written_config} (paste it into the "
                "project's Settings > Labeling Interface > Code)"
            )
        if self.local_paths:
            out.append(
                "Label Studio cannot read local paths: give --image-root (the URL or /data/local-files/?d= "
                "prefix where it finds the input folder)"
            )
        if len(self.kinds) > 1:
            out.append("these tasks mix images and videos: a Label Studio project takes one kind, import them apart")
        return out

    def labeling_config(self) -> str:
        """The XML labeling config matching these tasks' names and the model's classes."""
        labels = "".join(f"    <Label value={quoteattr(name)}/>\n" for _, name in sorted(self.names.items()))
        parts = ["<View>\n"]
        if "image" in self.kinds:
            parts.append(
                f'  <Image name="image" value="$image"/>\n  <RectangleLabels name="label" toName="image">\n'
                f"{labels}  </RectangleLabels>\n"
            )
        if "video" in self.kinds:
            rate = f' framerate="{self.fps:g}"' if self.fps else ""
            parts.append(
                f'  <Video name="video" value="$video"{rate}/>\n'
                '  <VideoRectangle name="box" toName="video"/>\n'
                f'  <Labels name="{VIDEO_LABELS}" toName="video">\n{labels}  </Labels>\n'
            )
        return "".join(parts) + "</View>\n"

    def _task(self, kind: str, result: ImageResult, regions: list[dict[str, Any]]) -> None:
        self.kinds.add(kind)
        root = self.options.image_root
        reference = result.source if root is None else image_reference(root, self.unique.of(result))
        self.local_paths |= root is None and "://" not in result.source
        prediction: dict[str, Any] = {"model_version": self.model_version}
        if regions:
            prediction["score"] = round(fmean(r["score"] for r in regions), 4)
        prediction["result"] = regions
        task = {"data": {kind: reference}, "predictions": [prediction]}
        self._put(("," if self.tasks else "") + dumps(task) + "\n")
        self.tasks += 1

    def _finish_video(self) -> None:
        video, self._video = self._video, None
        if video is not None:
            self.fps = self.fps or video.fps()
            self._task("video", video.result, video.regions())


def image_region(det: dict[str, Any], record: dict[str, Any], region_id: str) -> dict[str, Any]:
    return {
        "id": region_id,
        **IMAGE_NAMES,
        "type": "rectanglelabels",
        "original_width": record["width"],
        "original_height": record["height"],
        "image_rotation": 0,
        "value": {**percent_box(det["box"], record), "rotation": 0, "rectanglelabels": [det["class_name"]]},
        "score": det["confidence"],
    }


def percent_box(box: list[float], record: dict[str, Any]) -> dict[str, float]:
    """x, y, width, height in percent of the image, the box clipped to it (Label Studio refuses 0..100 outside)."""
    width, height = record["width"], record["height"]
    x1, x2 = (min(max(v, 0.0), width) for v in (box[0], box[2]))
    y1, y2 = (min(max(v, 0.0), height) for v in (box[1], box[3]))
    return {
        "x": round(100 * x1 / width, 4),
        "y": round(100 * y1 / height, 4),
        "width": round(100 * (x2 - x1) / width, 4),
        "height": round(100 * (y2 - y1) / height, 4),
    }


class _Video:
    """One video's boxes, gathered until its last frame: tracks become regions of keyframes."""

    def __init__(self, key: tuple[int, str], result: ImageResult) -> None:
        self.key, self.result = key, result
        self.frames: list[int] = []
        self.times: dict[int, float] = {}
        self.tracks: dict[int, list[tuple[int, dict[str, Any], float, str]]] = {}
        self.singles: list[tuple[int, dict[str, Any], float, str]] = []

    def add(self, record: dict[str, Any]) -> None:
        frame = record["frame"]
        self.frames.append(frame)
        if record.get("time_s") is not None:
            self.times[frame] = record["time_s"]
        for det in record["detections"]:
            keyframe = (frame, percent_box(det["box"], record), det["confidence"], det["class_name"])
            track = det.get("track_id")
            (self.tracks.setdefault(track, []) if track is not None else self.singles).append(keyframe)

    def fps(self) -> float | None:
        rates = [frame / t for frame, t in self.times.items() if frame > 0 and t > 0]
        return round(rates[-1], 3) if rates else None

    def regions(self) -> list[dict[str, Any]]:
        fps = self.fps()
        count = (self.frames[-1] + 1) if self.frames else 1
        duration = round(count / fps, 3) if fps else 0.0
        following = dict(zip(self.frames, self.frames[1:]))  # the next frame this run read after each

        def sequence(keyframes: list[tuple[int, dict[str, Any], float, str]]) -> list[dict[str, Any]]:
            out = []
            for i, (frame, box, _, _) in enumerate(keyframes):
                nxt = keyframes[i + 1][0] if i + 1 < len(keyframes) else None
                out.append(
                    {
                        "frame": frame + 1,
                        "enabled": nxt is not None and following.get(frame) == nxt,
                        "rotation": 0,
                        **box,
                        "time": round((frame + 1) / fps, 4) if fps else 0.0,
                    }
                )
            return out

        def region(region_id: str, keyframes: list[tuple[int, dict[str, Any], float, str]]) -> dict[str, Any]:
            labels = [c for *_, c in keyframes]
            return {
                "id": region_id,
                **VIDEO_NAMES,
                "type": "videorectangle",
                "origin": "prediction",
                "value": {
                    "framesCount": count,
                    "duration": duration,
                    "sequence": sequence(keyframes),
                    "labels": [max(set(labels), key=labels.count)],
                },
                "score": max(s for _, _, s, _ in keyframes),
            }

        out = [region(f"t{track}", frames) for track, frames in sorted(self.tracks.items())]
        return out + [region(f"b{k}", [one]) for k, one in enumerate(self.singles)]


def _config_name(out: Path) -> Path:
    stem = out.name[: -len(".json")] if out.name.lower().endswith(".json") else out.name
    return out.with_name(stem + ".label_config.xml")


def _write_free(path: Path, text: str) -> Path | None:
    """Write `text` at `path`, or at `stem_1.xml`, ... if taken (a file there is never replaced);
    None for a results stream that is no regular file's (stdout, a device)."""
    if os.path.abspath(path).startswith(("/dev/", "/proc/")):
        return None
    candidate, n = path, 0
    while True:
        try:
            with open(candidate, "x", encoding="utf-8") as fh:
                fh.write(text)
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(path.name.replace(".label_config.xml", f"_{n}.label_config.xml"))
        except OSError as exc:
            raise ConfigError(
                f"cannot write the Label Studio labeling config {candidate}: {exc.strerror or exc}"
            ) from None
