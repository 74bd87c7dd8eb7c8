"""`report.py`: one self-contained page; links only to files that exist, relative; every outside string escaped."""

from __future__ import annotations

import html
import html.parser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from detect_cli.outputs.report import Picture, Section, Table, attention_page, comparison_page, render_page, write_page

HOSTILE = ["a<b>.jpg", 'q"uote.jpg', "amp&amp;.jpg", "sp ace #1%20.jpg", "ünï?x=1.jpg", "javascript:alert(1).jpg"]
SCRIPT = '<script>alert("x")</script>'


class Parsed(html.parser.HTMLParser):
    """Tags, attributes and text of a page, as a browser would read them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        self.attrs += [(n, v or "") for n, v in attrs]

    def handle_data(self, data) -> None:
        self.text.append(data)

    def links(self) -> list[str]:
        return [v for n, v in self.attrs if n in {"src", "href"}]


def make_images(folder: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8\xff not really a jpeg")
        paths.append(path)
    return paths


def check_links(page: Path) -> list[Path]:
    """Every link: relative (no scheme, host or root), pointing at a file that exists."""
    parsed = Parsed(page.read_text(encoding="utf-8"))
    files = []
    for url in parsed.links():
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not parts.query and not parts.fragment, url
        assert not url.startswith("/"), url
        target = page.parent / unquote(parts.path)
        assert target.is_file(), url
        files.append(target.resolve())
    return files


def test_page_links_every_existing_picture_by_a_relative_url_and_no_missing_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    pictures = make_images(out, [*HOSTILE, "sub/dir/deep.png"])
    missing = out / "never-written.jpg"
    page = write_page(
        out, "run", [Section("Images", pictures=[*(Picture(p, p.name) for p in pictures), Picture(missing, "gone")])]
    )
    assert page == out / "index.html"
    linked = check_links(page)
    assert set(linked) == {p.resolve() for p in pictures}  # each one, and nothing else
    text = page.read_text(encoding="utf-8")
    assert "never-written.jpg" in text and 'src="never-written.jpg"' not in text  # said, not linked


def test_pictures_given_by_relative_paths_are_found_from_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_images(tmp_path / "out", ["x.jpg"])
    page = write_page("out", "run", [Section("s", pictures=[Picture(Path("out/x.jpg"))])])
    assert set(check_links(page)) == {(tmp_path / "out" / "x.jpg").resolve()}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped_everywhere(tmp_path: Path, name: str) -> None:
    (picture,) = make_images(tmp_path, [name])
    hostile = f"{SCRIPT}{name}"
    table = Table([hostile, "n"], [[hostile, 1.23456], [None, 2]], caption=hostile)
    text = render_page(tmp_path, hostile, [Section(hostile, [table], [Picture(picture, hostile)], [hostile])])
    parsed = Parsed(text)
    assert "script" not in parsed.tags and SCRIPT not in text
    assert {n for n, _ in parsed.attrs} <= {
        "charset",
        "http-equiv",
        "content",
        "name",
        "lang",
        "href",
        "src",
        "alt",
        "loading",
        "class",
    }
    assert hostile in parsed.text  # shown as text, exactly
    assert [v for n, v in parsed.attrs if n == "alt"] == [hostile]


def test_a_page_never_replaces_a_file_that_was_there(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("mine")
    first = write_page(tmp_path, "one", [])
    second = write_page(tmp_path, "two", [])
    assert (first.name, second.name) == ("index_1.html", "index_2.html")
    assert (tmp_path / "index.html").read_text() == "mine"
    assert "<title>two</title>" in second.read_text()


def test_the_page_loads_nothing_from_elsewhere_and_runs_no_script(tmp_path: Path) -> None:
    (picture,) = make_images(tmp_path, ["x.jpg"])
    text = render_page(tmp_path, "t", [Section("s", [Table(["a"], [["b"]])], [Picture(picture)])])
    parsed = Parsed(text)
    assert not {"script", "link", "iframe", "object", "embed", "form"} & set(parsed.tags)
    assert all(not urlsplit(url).scheme for url in parsed.links())
    assert "default-src 'none'" in text  # the browser refuses scripts even if something slipped through


def test_comparison_page_from_a_report(tmp_path: Path) -> None:
    grids = make_images(tmp_path, ["bus.jpg", "a&b.jpg"])
    model = {
        "name": "demo",
        "spec": "demo",
        "images": 2,
        "total_p50": 12.3456,
        "map50": None,
        "class_counts": {"star": 4, "<ring>": 1},
    }
    report = {
        "settings": {"imgsz": 320, "labels": None},
        "models": [model, {**model, "name": 'x"y.pt'}],
        "agreement": [
            {
                "reference": "demo",
                "model": 'x"y.pt',
                "matched": 3,
                "precision": 1.0,
                "recall": 0.5,
                "f1": 0.667,
                "mean_iou": None,
            }
        ],
        "failed_models": [{"name": "bad.pt", "error": "no such file"}],
        "failures": [{"source": "<img src=x>", "error": "not an image"}],
    }
    page = comparison_page(tmp_path, report, [(f"/data/{p.name}", p) for p in grids])
    assert set(check_links(page)) == {p.resolve() for p in grids}
    parsed = Parsed(page.read_text(encoding="utf-8"))
    text = " ".join(parsed.text)
    for expected in ("12.346", "<ring>", 'x"y.pt', "<img src=x>", "not an image", "model bad.pt", "imgsz 320"):
        assert expected in text
    assert parsed.tags.count("img") == 2 and "labels None" not in text


def test_attention_page_from_records(tmp_path: Path) -> None:
    overlays = tmp_path / "bus"
    pictures = make_images(overlays, ["attention.jpg", "det_00_bus_attention.jpg"])
    (overlays / "det_00_bus_attention.npy").write_bytes(b"\x93NUMPY")  # raw maps are not pictures
    det = {"class_name": "b<u>s", "confidence": 0.9, "attention": {"peak_xy": [1, 2], "mass_in_box": 0.75}}
    records = [
        {
            "source": "bus.jpg",
            "status": "ok",
            "width": 810,
            "height": 1080,
            "maps": "C2PSA",
            "detections": [det],
            "overlays": str(overlays),
        },
        {"source": "broken.jpg", "status": "error", "error": "not an image", "overlays": None},
        {
            "source": "empty.jpg",
            "status": "ok",
            "width": 4,
            "height": 4,
            "maps": "C2PSA",
            "detections": [],
            "overlays": None,
        },
    ]
    faithfulness = [{"method": "attention", "n": 3, "deletion_auc": 0.1, "deletion_auc_ci95": [0.05, 0.15]}]
    page = attention_page(tmp_path, records, model="demo", faithfulness=faithfulness)
    assert set(check_links(page)) == {p.resolve() for p in pictures}
    text = " ".join(Parsed(page.read_text(encoding="utf-8")).text)
    for expected in ("b<u>s", "0.750", "error: not an image", "810x1080", "Faithfulness", "deletion_auc"):
        assert expected in text
    assert html.escape("b<u>s") in page.read_text(encoding="utf-8")
