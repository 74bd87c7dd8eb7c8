"""What the formats for annotation tools share (names, image references), and the results the tests of
each format (test_yolo_dataset, test_coco_dataset, test_labelstudio) write: stills with awkward
names and sizes, a failed input, and a tracked video's frames."""

from __future__ import annotations

import copy
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from detect_cli.core.results import ImageResult
from detect_cli.outputs.formats import open_sink
from detect_cli.outputs.label_formats import LabelOptions, image_reference
from tests.helpers import NAMES, image_bytes, make_result, pattern_rgb, write_jpeg

META = {"model": {"spec": "demo", "names": {str(k): v for k, v in NAMES.items()}}, "settings": {"conf": 0.25}}
SCHEMA = json.loads((Path(__file__).parent / "labelstudio_tasks.schema.json").read_text())


def still(folder: Path, name: str, index: int, width: int, height: int, n: int = 3) -> ImageResult:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        path.write_bytes(image_bytes(pattern_rgb(height, width, index), "PNG"))
    else:
        write_jpeg(path, height, width, seed=index)
    result = make_result(index, n, source=str(path), width=width, height=height, seed=index)
    return replace(result, name=name)


def stills(tmp_path: Path) -> list[ImageResult]:
    folder = tmp_path / "in"
    over = Detections([[-5.0, 10.0, 70.0, 50.0]], [0.9], [1])  # reaches past the image's left and right edges
    return [
        still(folder, "a.jpg", 0, 640, 480),
        still(folder, "sub/b.png", 1, 320, 200, n=5),
        replace(still(folder, "c.jpg", 2, 64, 48, n=0), detections=over),
        still(folder, "c.png", 3, 100, 80),  # its label would be labels/c.txt too
        make_result(4, error="cannot decode image: truncated", source=str(folder / "broken.jpg")),
        still(folder, "empty.jpg", 5, 50, 50, n=0),
    ]


def frames(count: int = 6, tracked: bool = True) -> list[ImageResult]:
    """A 25 fps video's frames 0, 2, 4...: track 7 in every frame but the third, track 9 in the first two."""
    out = []
    for k in range(count):
        frame = 2 * k
        boxes = [[10 + k, 10, 50 + k, 60]] + ([[100, 100, 140, 130]] if k < 2 else [])
        ids = [7 if k != 2 else -1] + ([9] if k < 2 else [])
        det = Detections(boxes, [0.8] * len(boxes), [0] * len(boxes), np.array(ids) if tracked else None)
        out.append(
            ImageResult(
                "/v/clip.mp4",
                7,
                det,
                dict(NAMES),
                320,
                240,
                name="clip.mp4",
                frame=frame,
                time_s=frame / 25,
                image=np.zeros((240, 320, 3), np.uint8),
            )
        )
    return out


def write(fmt: str, results: list[ImageResult], out: Path | None = None, **options: object) -> str:
    stream = None if fmt == "yolo" else io.StringIO()
    sink = open_sink(fmt, stream, copy.deepcopy(META), out=out, labels=LabelOptions(**options))  # type: ignore[arg-type]
    for r in results:
        sink.write(r)
    sink.close(None)
    return stream.getvalue() if stream is not None else ""


def xywhn(record: dict) -> np.ndarray:
    """A record's boxes as YOLO has them: centre, width and height over the image's, the box clipped to it."""
    width, height = record["width"], record["height"]
    boxes = np.array([d["box"] for d in record["detections"]], dtype=np.float64).reshape(-1, 4)
    x1, x2 = boxes[:, 0].clip(0, width), boxes[:, 2].clip(0, width)
    y1, y2 = boxes[:, 1].clip(0, height), boxes[:, 3].clip(0, height)
    return np.stack([(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height], axis=1)


def yolo_dataset_labels(folder: Path, names: dict[int, str] = NAMES) -> dict[str, dict]:
    """The labels as Ultralytics' own loader reads them for training: image name -> its label dict."""
    from detect_cli.models.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(folder / "data.yaml"))
    assert data["names"] == names
    dataset = YOLODataset(img_path=data["train"], data=data, task="detect", augment=False, imgsz=64)
    return {Path(lb["im_file"]).relative_to(folder / "images").as_posix(): lb for lb in dataset.labels}


@pytest.mark.parametrize(
    ("root", "name", "expected"),
    [
        (None, "a b.jpg", "a b.jpg"),
        ("https://host/x/", "sub/a b#1.jpg", "https://host/x/sub/a%20b%231.jpg"),
        ("/data/local-files/?d=photos/", "a b.jpg", "/data/local-files/?d=photos/a%20b.jpg"),
        ("s3://bucket/pre", "a b.jpg", "s3://bucket/pre/a b.jpg"),
    ],
)
def test_image_references(root: str | None, name: str, expected: str) -> None:
    assert image_reference(root, name) == expected


def _two_folders(tmp_path: Path) -> list[ImageResult]:
    """`detect A/ B/`: each folder has x.jpg (and X.JPG: one file on macOS and Windows), and a clip.mp4."""
    a, b = still(tmp_path / "A", "x.jpg", 0, 64, 48), still(tmp_path / "B", "x.jpg", 1, 48, 64)
    upper = still(tmp_path / "B", "X.JPG", 2, 32, 32)
    clips = [replace(f, source=f"/{folder}/clip.mp4", index=k) for k, folder in ((3, "A"), (4, "B")) for f in frames(1)]
    return [a, b, upper, a, *clips]  # A/x.jpg twice: the same input keeps its name


def test_two_inputs_of_one_name_are_named_apart_in_coco_dataset_and_labelstudio(tmp_path: Path) -> None:
    """B's boxes once landed on A's image: both had file_name / URL x.jpg (and both videos clip/...)."""
    results = _two_folders(tmp_path)
    coco = json.loads(write("coco-dataset", results, image_root="https://host/"))
    assert [im["file_name"] for im in coco["images"]] == [
        "x.jpg",
        "x_1.jpg",
        "X_2.JPG",
        "x.jpg",
        "clip/frame_000000.jpg",
        "clip_1/frame_000000.jpg",
    ]
    assert [v["name"] for v in coco["videos"]] == ["clip.mp4", "clip_1.mp4"]
    tasks = json.loads(write("labelstudio", results, image_root="https://host/"))
    refs = [t["data"].get("image") or t["data"].get("video") for t in tasks]
    assert refs == [
        "https://host/x.jpg",
        "https://host/x_1.jpg",
        "https://host/X_2.JPG",
        "https://host/x.jpg",
        "https://host/clip.mp4",
        "https://host/clip_1.mp4",
    ]


def test_unique_names_say_how_many_were_named_apart(tmp_path: Path) -> None:
    from detect_cli.outputs.label_formats import UniqueNames

    names = UniqueNames()
    assert [names.of(r) for r in _two_folders(tmp_path)[:3]] == ["x.jpg", "x_1.jpg", "X_2.JPG"]
    assert names.renamed == 2 and "2 input(s) had the name of another" in names.notes("the file")[0]
    assert UniqueNames().notes("the file") == []
