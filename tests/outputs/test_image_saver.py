"""`ImageSaver`: names mirror inputs, never collide and never leave the folder."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest

from detect_cli.outputs.image_saver import ImageSaver, SaveRefused, safe_relative_name
from tests.helpers import pattern_rgb


@pytest.fixture
def saver(tmp_path: Path) -> ImageSaver:
    return ImageSaver(tmp_path / "out")


def inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["img.jpg", "img.jpg"], ["img.jpg", "img_1.jpg"]),
        (["img.jpg", "img.jpg", "img.jpg"], ["img.jpg", "img_1.jpg", "img_2.jpg"]),
        (["img.jpg", "img_1.jpg", "img.jpg"], ["img.jpg", "img_1.jpg", "img_2.jpg"]),
        (["img.jpg", "img.jpg", "img_1.jpg"], ["img.jpg", "img_1.jpg", "img_1_1.jpg"]),
        (["IMG.jpg", "img.JPG"], ["IMG.jpg", "img_1.JPG"]),  # case-insensitive file systems
        (["a/img.jpg", "b/img.jpg", "a/img.jpg"], ["a/img.jpg", "b/img.jpg", "a/img_1.jpg"]),
        (["photo", "photo.jpg"], ["photo.jpg", "photo_1.jpg"]),  # URL without extension, then a real .jpg
    ],
)
def test_names_never_collide(saver: ImageSaver, names: list[str], expected: list[str]):
    paths = [saver.path_for(n) for n in names]
    assert [p.relative_to(saver.folder.resolve()).as_posix() for p in paths] == expected
    assert len({p.as_posix().lower() for p in paths}) == len(paths)


def test_saving_two_img_jpg_keeps_both_images(saver: ImageSaver):
    first, second = pattern_rgb(20, 30, seed=1), pattern_rgb(20, 30, seed=2)[::-1].copy()
    p1 = saver.save("img.jpg", first)
    p2 = saver.save("img.jpg", second)
    assert p1 != p2 and p1.is_file() and p2.is_file()
    assert not np.array_equal(cv2.imread(str(p1)), cv2.imread(str(p2)))


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "../../../../../../tmp/evil.jpg",
        "/etc/passwd",
        "/abs/path/photo.png",
        "a/../../b.jpg",
        "..\\..\\windows\\win.ini",
        "C:\\Users\\x\\pic.jpg",
        "//server/share/p.jpg",
        "..",
        "",
        "./././x.jpg",
    ],
)
def test_hostile_names_stay_inside_the_folder(saver: ImageSaver, name: str):
    path = saver.save(name, np.zeros((8, 8, 3), np.uint8))
    assert inside(path, saver.folder)
    assert path.is_file()
    rel = PurePosixPath(path.relative_to(saver.folder.resolve()).as_posix())
    assert ".." not in rel.parts and ":" not in rel.as_posix()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("photo.PNG", "photo.PNG"),
        ("scan.tiff", "scan.tiff"),
        ("notes.txt", "notes.txt.jpg"),
        ("anim.gif", "anim.gif.jpg"),  # readable, but cv2 cannot write GIF
        ("photo", "photo.jpg"),
        ("sub/dir/x.webp", "sub/dir/x.webp"),
        ("a\x00b\x1f.jpg", "a_b_.jpg"),
        ('what?*<>|".png', "what______.png"),
        ("", "image.jpg"),
        ("../..", "image.jpg"),
    ],
)
def test_safe_relative_name(name: str, expected: str):
    assert safe_relative_name(name).as_posix() == expected


@pytest.mark.parametrize("name", ["sub/photo.jpg", "x.png", "y.bmp", "z.webp", "t.tif", "page.html", "noext"])
def test_written_file_decodes_with_cv2(saver: ImageSaver, name: str):
    image = np.ascontiguousarray(pattern_rgb(24, 32, seed=4)[..., ::-1])
    path = saver.save(name, image)
    assert path.suffix.lower() in {".jpg", ".png", ".bmp", ".webp", ".tif"}
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == image.shape
    lossless = path.suffix.lower() in {".png", ".bmp", ".tif"}
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= (0 if lossless else 40)


def test_symlinked_subfolder_pointing_outside_is_refused(tmp_path: Path):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)
    saver = ImageSaver(out)
    with pytest.raises(SaveRefused, match="outside"):
        saver.save("sub/x.jpg", np.zeros((4, 4, 3), np.uint8))
    assert list(outside.iterdir()) == []


def test_a_file_already_in_the_folder_is_never_replaced(saver: ImageSaver):
    saver.folder.mkdir(parents=True)
    users = saver.folder / "img.jpg"
    users.write_bytes(b"the user's photo")
    (saver.folder / "img_1.jpg").symlink_to(saver.folder / "elsewhere.jpg")  # a dangling link is taken too
    path = saver.save("img.jpg", np.zeros((8, 8, 3), np.uint8))
    assert path.name == "img_2.jpg" and users.read_bytes() == b"the user's photo"
    assert not (saver.folder / "elsewhere.jpg").exists()
    assert saver.save("img.jpg", np.zeros((8, 8, 3), np.uint8)).name == "img_3.jpg"


def test_reserved_names_are_not_looked_up_on_disk(saver: ImageSaver):
    """--resume: a name an earlier part of the run wrote is reserved as it was, and later images
    come after it, as in one uninterrupted run."""
    saver.folder.mkdir(parents=True)
    (saver.folder / "img.jpg").write_bytes(b"written by the earlier part of the run")
    saver.reserve("img.jpg")
    assert saver.path_for("img.jpg").name == "img_1.jpg"


@pytest.mark.parametrize(
    "names",
    [
        ["n" * 296 + ".jpg", "n" * 295 + "m.jpg"],  # same long prefix: the hash keeps them apart
        ["é" * 200 + ".png", "é" * 199 + "e.png"],  # multi-byte characters are never cut in half
        [("d" * 300) + "/x.jpg", ("d" * 299) + "e/x.jpg"],  # long folder names too
    ],
)
def test_long_names_are_shortened_and_stay_unique(saver: ImageSaver, names: list[str]):
    paths = [saver.save(name, np.zeros((8, 8, 3), np.uint8)) for name in names]
    assert len(set(paths)) == 2 and all(p.is_file() for p in paths)
    for path in paths:
        rel = path.relative_to(saver.folder.resolve())
        assert all(len(part.encode()) <= 255 for part in rel.parts)
        assert rel.suffix == PurePosixPath(names[0]).suffix
    assert safe_relative_name(names[0]) == safe_relative_name(names[0])  # the same input, the same name


def test_an_image_the_format_cannot_hold_is_an_oserror(saver: ImageSaver):
    with pytest.raises(OSError, match="cannot encode"):
        saver.save("wide.webp", np.zeros((2, 17000, 3), np.uint8))  # WebP stops at 16383 px
    assert not saver.folder.exists() or list(saver.folder.iterdir()) == []
