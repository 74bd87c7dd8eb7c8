"""The first run's check images: the run's own local pictures, read ahead; samples only without them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.models.check_images import CHECK_IMAGES, check_images


class Named:
    """Enough of a detector to choose samples: its class names."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names


SHAPES = Named({0: "circle", 1: "square"})
CUSTOM = Named({0: "helmet", 1: "vest"})


def _write(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img_{i:02d}.png"
        cv2.imwrite(str(path), np.full((size[1], size[0], 3), 10 * i, np.uint8))
        paths.append(path)
    return paths


def test_a_folder_gives_its_first_images_shrunk_to_the_input(tmp_path: Path) -> None:
    _write(tmp_path / "photos", CHECK_IMAGES + 3, (1024, 768))  # 4:3, larger than the network's input
    check = check_images(CUSTOM, [str(tmp_path / "photos")], max_side=320)
    assert check.own and len(check.images) == CHECK_IMAGES and check.source == f"{CHECK_IMAGES} of the run's images"
    # shrunk to the input with its aspect (320x240), then padded to a square as the export's letterbox pads
    assert {image.shape for image in check.images} == {(320, 320, 3)}
    first = check.images[0]
    assert (first[:40] == 114).all() and (first[280:] == 114).all() and (first[40:280] == 0).all()


def test_frames_of_a_local_video_count_and_portrait_stills_keep_their_shape(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 180))  # 16:9
    for i in range(40):
        writer.write(np.full((180, 320, 3), i * 5, np.uint8))
    writer.release()
    (still,) = _write(tmp_path / "one", 1, (240, 320))  # portrait
    check = check_images(CUSTOM, [str(still), str(video)], max_side=320)
    assert check.own and check.images[0].shape == (320, 320, 3) and (check.images[0][:, :40] == 114).all()
    assert len(check.images) > 1 and all(image.shape == (320, 320, 3) for image in check.images[1:])


@pytest.mark.parametrize("sources", [[], ["-"], ["http://127.0.0.1:9/x.jpg"], ["rtsp://127.0.0.1/stream"]])
def test_without_local_images_samples_of_the_models_kind(sources: list[str]) -> None:
    """stdin, URLs and streams are never read ahead (a second read would consume or change them)."""
    scenes = check_images(SHAPES, sources)
    assert scenes.own and scenes.source == f"{CHECK_IMAGES} generated scenes" and len(scenes.images) == CHECK_IMAGES
    photos = check_images(CUSTOM, sources)
    assert not photos.own and "bus and zidane" in photos.source and len(photos.images) == 2


def test_unreadable_files_are_passed_over(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    _write(tmp_path, 2, (64, 48))
    check = check_images(CUSTOM, [str(tmp_path)])
    assert check.own and len(check.images) == 2
    assert not check_images(CUSTOM, [str(tmp_path / "broken.jpg")]).own  # nothing readable: samples
