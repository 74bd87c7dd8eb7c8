"""`iter_sources`: every kind of argument, order, names, skips and errors, and lazy folder walks."""

from __future__ import annotations

import io
import os
from itertools import islice
from pathlib import Path

import pytest

from detect_cli.inputs.sources import Source, is_url, iter_sources, url_name, url_problem, walk_images
from detect_cli.outputs.image_saver import safe_relative_name
from tests.conftest import SAMPLES

pytestmark = pytest.mark.filterwarnings("error")


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")  # content does not matter: sources never open files


def collect(args, **kwargs) -> tuple[list[Source], list[tuple[str, str]]]:
    skipped: list[tuple[str, str]] = []
    sources = list(iter_sources(args, on_skip=lambda ref, why: skipped.append((ref, why)), **kwargs))
    return sources, skipped


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_kind_in_one_call_keeps_argument_order(cwd: Path):
    touch(cwd, "single.jpg", "folder/b.png", "folder/a.jpg", "folder/c.txt", "folder/sub/d.jpg")
    touch(cwd, "globbed/z.jpg", "globbed/y.jpg", "globbed/x.gif", "lists/l1.jpg", "from_stdin.webp")
    (cwd / "lists" / "list.txt").write_text("l1.jpg\n../single.jpg\n", encoding="utf-8")
    args = [
        "single.jpg",
        "folder",
        "globbed/*.jpg",
        "http://127.0.0.1:9/img?id=1",
        "@lists/list.txt",
        "-",
        "nope.jpg",
        "ftp://127.0.0.1/x.jpg",
    ]
    sources, skipped = collect(args, stdin=io.StringIO("from_stdin.webp\n"))
    got = [(s.name, s.error is None) for s in sources]
    assert got == [
        ("single.jpg", True),
        ("a.jpg", True),
        ("b.png", True),
        ("y.jpg", True),
        ("z.jpg", True),
        ("img.jpg", True),
        ("l1.jpg", True),
        ("single.jpg", True),
        ("from_stdin.webp", True),
        ("nope.jpg", False),
        ("ftp://127.0.0.1/x.jpg", False),
    ]
    local = [s for s in sources if not s.is_url and s.error is None]
    assert all(Path(s.ref).is_file() for s in local)
    assert [Path(s.ref) for s in local[:3]] == [cwd / "single.jpg", cwd / "folder/a.jpg", cwd / "folder/b.png"]
    assert [Path(r).name for r, _ in skipped] == ["c.txt"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    touch(root, "b.jpg", "A.png", "notes.txt", ".DS_Store", "sub2/z.jpg", "sub1/y.JPEG", "sub1/deeper/x.tif")
    touch(root, "sub1/deeper/readme.md", "empty/.keep")
    return root


@pytest.mark.parametrize(
    ("recursive", "expected"),
    [
        (False, ["A.png", "b.jpg"]),
        (True, ["A.png", "b.jpg", "sub1/y.JPEG", "sub1/deeper/x.tif", "sub2/z.jpg"]),
    ],
)
def test_folder_recursive_or_not(tree: Path, recursive: bool, expected: list[str]):
    sources, skipped = collect([str(tree)], recursive=recursive)
    assert [s.name for s in sources] == expected
    assert [Path(s.ref) for s in sources] == [tree / n for n in expected]
    skipped_names = sorted(Path(r).name for r, _ in skipped)
    assert skipped_names == (["notes.txt", "readme.md"] if recursive else ["notes.txt"])
    assert all("not an image" in why for _, why in skipped)


def test_symlink_loops_do_not_hang_and_list_each_image_once(tmp_path: Path):
    root = tmp_path / "root"
    touch(root, "top.jpg", "a/img.jpg", "outside/o.jpg")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "a" / "loop2").symlink_to("..", target_is_directory=True)
    (root / "a" / "self").symlink_to(".", target_is_directory=True)
    # two loops in one folder would be 2**40 paths if followed naively; islice bounds a failure
    found = list(islice(walk_images(root, recursive=True), 50))
    assert [p.relative_to(root).as_posix() for p in found] == ["top.jpg", "a/img.jpg", "outside/o.jpg"]


def test_symlinked_folder_outside_the_tree_is_followed(tmp_path: Path):
    touch(tmp_path, "elsewhere/e.png", "root/r.jpg")
    (tmp_path / "root" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    sources, _ = collect([str(tmp_path / "root")], recursive=True)
    assert [s.name for s in sources] == ["r.jpg", "link/e.png"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("tree/**/*.jpg", ["b.jpg", "sub2/z.jpg"]),
        # same order as a recursive folder walk: a folder's files, then its sub-folders
        ("tree/**/*", ["A.png", "b.jpg", "sub1/y.JPEG", "sub1/deeper/x.tif", "sub2/z.jpg"]),
        ("tree/sub*/*", ["sub1/y.JPEG", "sub2/z.jpg"]),
        ("tree/?.jpg", ["b.jpg"]),
        ("tree/[A-Z].png", ["A.png"]),
    ],
)
def test_quoted_glob(cwd: Path, tree: Path, pattern: str, expected: list[str]):
    sources, skipped = collect([pattern])
    assert [s.name for s in sources] == expected
    assert all(s.error is None and Path(s.ref).is_file() for s in sources)
    if pattern == "tree/**/*":
        assert sorted(Path(r).name for r, _ in skipped) == ["notes.txt", "readme.md"]


def test_glob_matching_nothing_is_an_error_source(cwd: Path, tree: Path):
    sources, _ = collect(["tree/**/*.bmp", "tree/*.txt"])
    assert [(s.ref, s.error) for s in sources] == [
        ("tree/**/*.bmp", "no image files match this pattern"),
        ("tree/*.txt", "no image files match this pattern"),
    ]


def test_glob_with_symlink_loop_lists_each_image_once(cwd: Path):
    """Globs walk like folders do, so a symlink loop is cut (glob.iglob would repeat images)."""
    touch(cwd, "g/a/x.jpg")
    (cwd / "g" / "a" / "loop").symlink_to("..", target_is_directory=True)
    sources, _ = collect(["g/**/*.jpg"])
    assert len(sources) == 1


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://127.0.0.1:8000/photo?id=7&fmt=jpeg", "photo.jpg"),
        ("https://127.0.0.1/a/b/cat.PNG?x=1#frag", "cat.PNG"),
        ("http://127.0.0.1/", "image.jpg"),
        ("http://127.0.0.1", "image.jpg"),
        ("http://127.0.0.1/my%20pic.webp", "my pic.webp"),
        ("HTTPS://127.0.0.1/render.php?w=10", "render.php.jpg"),
    ],
)
def test_url_gets_a_usable_name(url: str, name: str):
    [source] = iter_sources([url])
    assert source == Source(url, name, is_url=True)
    assert url_name(url) == name
    assert safe_relative_name(source.name).suffix.lower() in {".jpg", ".png", ".webp"}


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x.jpg", "file:///etc/passwd", "s3://bucket/key.jpg", "data://x"])
def test_non_http_scheme_is_an_error_source(url: str):
    [source] = iter_sources([url])
    assert source.ref == url
    assert source.error is not None and "http" in source.error


def test_list_file_resolves_relative_to_its_folder(cwd: Path):
    touch(cwd, "lists/here.jpg", "lists/sub/deep.png", "pics/other.jpg", "pics/also.png", "here.jpg")
    absolute = cwd / "pics" / "other.jpg"
    (cwd / "lists" / "list.txt").write_text(
        "# a comment\n\n   \nhere.jpg\n  sub/deep.png  \n../pics/*.png\n"
        f"{absolute}\n# another\nmissing.jpg\n@nested.txt\n-\n",
        encoding="utf-8",
    )
    sources, _ = collect(["@lists/list.txt"])
    assert [(s.name, s.error) for s in sources] == [
        ("here.jpg", None),
        ("deep.png", None),
        ("also.png", None),
        ("other.jpg", None),
        ("missing.jpg", "no such file or folder"),
        ("@nested.txt", "list files cannot include other lists"),
        ("-", "list files cannot include other lists"),
    ]
    assert Path(sources[0].ref) == cwd / "lists" / "here.jpg"  # not ./here.jpg in the working directory
    assert Path(sources[1].ref) == cwd / "lists" / "sub" / "deep.png"
    assert Path(sources[3].ref) == absolute


def test_missing_list_file_is_an_error_source(cwd: Path):
    [source] = iter_sources(["@nope.txt"])
    assert source.ref == "@nope.txt"
    assert source.error is not None and source.error.startswith("cannot read list file")


def test_dash_reads_the_given_stdin(cwd: Path):
    touch(cwd, "a.jpg", "d/b.png", "d/c.gif")
    stdin = io.StringIO("# from find\na.jpg\n\nd\nhttp://127.0.0.1/x?y=1\n")
    sources, _ = collect(["-"], stdin=stdin)
    assert [s.name for s in sources] == ["a.jpg", "b.png", "c.gif", "x.jpg"]
    assert [s.is_url for s in sources] == [False, False, False, True]
    assert Path(sources[0].ref) == cwd / "a.jpg"


@pytest.mark.parametrize(
    ("name", "yielded"),
    [
        ("notes.txt", False),
        ("archive.tar.gz", False),
        ("photo.JPG", True),
        ("no_extension", True),  # may well be an image: the decoder decides
    ],
)
def test_explicit_files_non_images_are_skipped(cwd: Path, name: str, yielded: bool):
    touch(cwd, name)
    sources, skipped = collect([name])
    assert [s.name for s in sources] == ([name] if yielded else [])
    assert [r for r, _ in skipped] == ([] if yielded else [name])
    if not yielded:
        assert Path(name).suffix in skipped[0][1]


def test_missing_file_is_an_error_source(cwd: Path):
    [source] = iter_sources(["sub/missing.jpg"])
    assert source.error == "no such file or folder"
    assert source.name == "missing.jpg"
    assert not source.is_url


@pytest.mark.parametrize(
    "name", ["with space/my photo 1.jpg", "ünïcödé/ñandú.png", "日本/写真 (2).webp", "emoji 📷/😀.jpg"]
)
def test_unicode_and_spaces_in_paths(cwd: Path, name: str):
    touch(cwd, name)
    folder, file = name.split("/")
    assert [(s.name, Path(s.ref)) for s in iter_sources([folder])] == [(file, cwd / name)]
    assert [(s.name, Path(s.ref)) for s in iter_sources([name])] == [(file, cwd / name)]
    assert [s.name for s in iter_sources(["-"], stdin=io.StringIO(name + "\n"))] == [file]


def test_first_image_comes_before_the_last_folder_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "big"
    subs = [f"d{i:02d}" for i in range(20)]
    for sub in subs:
        touch(root, f"{sub}/img.jpg")
    events: list[tuple[str, str]] = []
    real_scandir = os.scandir

    def spy(path):
        events.append(("list", Path(path).name))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    stream = iter_sources([str(root)], recursive=True)
    first = next(stream)
    events.append(("yield", first.name))
    assert first.name == "d00/img.jpg"
    assert events == [("list", "big"), ("list", "d00"), ("yield", "d00/img.jpg")]
    for source in stream:
        events.append(("yield", source.name))
    listed = [name for kind, name in events if kind == "list"]
    assert listed == ["big", *subs]  # every folder listed once, in order
    assert events.index(("yield", "d00/img.jpg")) < events.index(("list", subs[-1]))
    assert [name for kind, name in events if kind == "yield"] == [f"{s}/img.jpg" for s in subs]


# --- hostile arguments: each yields an error record, never an exception, a hang or nothing at all -------------


@pytest.mark.parametrize("arg", ["", "   "])
def test_empty_argument_is_an_error_not_the_current_directory(cwd: Path, arg: str):
    touch(cwd, "here.jpg")
    [source] = iter_sources([arg])
    assert source.error is not None and "empty source argument" in source.error


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1/x.jpg", "invalid URL: Invalid IPv6 URL"),
        ("http://127.0.0.1:abc/x.jpg", "invalid URL: Port could not be cast"),
        ("http://127.0.0.1:99999/x.jpg", "invalid URL: Port out of range"),
        ("http:///x.jpg", "invalid URL: no host name"),
        ("http://127.0.0.1/my pic.jpg", "invalid URL: it contains a space"),
    ],
)
def test_malformed_url_is_an_error_source(url: str, message: str):
    [source] = iter_sources([url])
    assert (source.ref, source.is_url) == (url, True)
    assert source.error is not None and source.error.startswith(message)
    assert url_problem(url) == source.error
    assert url_problem("http://[::1]:8080/x.jpg") is None and is_url(url)


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def test_special_files_in_a_folder_are_error_records(tmp_path: Path):
    """A FIFO would block the reader for ever, /dev/zero would never end: records, in their sorted place."""
    root = tmp_path / "dir"
    touch(root, "a.jpg", "d.jpg")
    fifo(root / "b.jpg")
    (root / "c.jpg").symlink_to("/dev/zero")
    (root / "e.jpg").symlink_to(root / "gone.jpg")
    fifo(root / "pipe")  # not image-named: ignored like any other non-image, not read
    sources, skipped = collect([str(root)])
    assert [(s.name, s.error) for s in sources] == [
        ("a.jpg", None),
        ("b.jpg", "not a regular file (FIFO)"),
        ("c.jpg", "not a regular file (character device)"),
        ("d.jpg", None),
        ("e.jpg", "broken symbolic link (its target does not exist)"),
    ]
    assert skipped == []


def test_special_files_matched_by_a_glob_or_named_are_error_records(cwd: Path):
    touch(cwd, "g/a.jpg")
    fifo(cwd / "g" / "b.jpg")
    sources, _ = collect(["g/*.jpg", "g/b.jpg"])
    assert [(s.name, s.error) for s in sources] == [
        ("a.jpg", None),
        ("b.jpg", "not a regular file (FIFO)"),
        ("b.jpg", "not a regular file (FIFO)"),
    ]


def deny_listing(monkeypatch: pytest.MonkeyPatch, *denied: Path) -> None:
    """os.scandir raises PermissionError for `denied` (chmod 000 does not stop root, who runs CI here)."""
    real = os.scandir

    def scandir(path):
        if Path(path) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_folder_is_an_error_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    touch(tmp_path, "locked/a.jpg", "open/b.jpg", "open/sub/c.jpg", "open/sub2/d.jpg")
    deny_listing(monkeypatch, tmp_path / "locked", tmp_path / "open" / "sub")
    sources, _ = collect([str(tmp_path / "locked"), str(tmp_path / "open")], recursive=True)
    assert [(Path(s.ref).name, s.error) for s in sources] == [
        ("locked", "cannot list folder: Permission denied"),
        ("b.jpg", None),
        ("sub", "cannot list folder: Permission denied"),
        ("d.jpg", None),
    ]


@pytest.mark.parametrize(
    ("files", "recursive", "message"),
    [
        ([], False, "no image files in this folder (no other files)"),
        (["notes.txt", "data.csv", ".hidden.jpg.txt"], False, "no image files in this folder (2 other files skipped)"),
        (["notes.txt", "sub/x.jpg"], False, "(1 other file skipped, -r also searches its sub-folders)"),
        (["sub/readme.md"], True, "no image files in this folder (1 other file skipped)"),
    ],
)
def test_folder_without_images_is_one_error_record(tmp_path: Path, files, recursive: bool, message: str):
    """Like a glob that matches nothing: one record, so that the run ends with exit 3, not a silent 0."""
    root = tmp_path / "nothing"
    root.mkdir()
    touch(root, *files)
    sources, skipped = collect([str(root)], recursive=recursive)
    assert [(s.ref, s.name) for s in sources] == [(str(root), "nothing")]
    assert sources[0].error is not None and message in sources[0].error
    assert all("not an image" in why for _, why in skipped)  # the per-file notes stay


@pytest.mark.parametrize(
    ("content", "message"), [(b"x" * 100_000, "not a list"), (None, "not a regular file (character device)")]
)
def test_list_file_without_line_ends_is_refused(cwd: Path, content: bytes | None, message: str):
    """A binary given as a list: one record, without reading it all into one line; /dev/zero is
    refused unopened (a list is a regular file or a pipe)."""
    if content is None:
        arg = "@/dev/zero"
    else:
        (cwd / "list.txt").write_bytes(content)
        arg = "@list.txt"
    [source] = iter_sources([arg])
    assert source.error is not None and message in source.error


def test_list_file_that_is_a_folder_is_one_record(cwd: Path):
    (cwd / "lists").mkdir()
    [source] = iter_sources(["@lists"])
    assert source.error == "cannot read list file: a folder, not a file"


def test_stills_only_turns_videos_into_error_records() -> None:
    from detect_cli.inputs.sources import stills_only

    sources = list(iter_sources([str(SAMPLES / "video" / "shapes.mp4"), str(SAMPLES / "bus.jpg"), "webcam:0"]))
    kept = list(stills_only(sources, "a video: not here"))
    assert [s.error for s in kept] == ["a video: not here", None, "a video: not here"]
