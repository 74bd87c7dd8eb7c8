"""`evaluate --save`'s pictures and page from made-up detections: every picture written and linked,
nothing the folder had replaced, the attention of each false detection, and the page in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect_cli.attention.run import ImageAttention
from detect_cli.evaluation.analysis import analyse
from detect_cli.evaluation.errors import TRUE_POSITIVE, LabelledImage
from detect_cli.evaluation.labels import Labels
from detect_cli.evaluation.metrics import evaluate
from detect_cli.evaluation.predictions import Prediction
from detect_cli.tasks.evaluation_pictures import PictureWriter, save_evaluation
from tests.evaluation.synthetic import NAMES, random_images

FIGURES = {"pr_curve.png", "f1_curve.png", "confusion_matrix.png", "confusion_matrix_normalised.png", "tide_errors.png"}


def on_disk(images: list[LabelledImage], folder: Path) -> list[LabelledImage]:
    """The same images with a real file behind each (noise, 500x500)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    out = []
    for image in images:
        path = folder / image.name
        cv2.imwrite(str(path), rng.integers(0, 255, (500, 500, 3), dtype=np.uint8))
        p = image.prediction
        out.append(LabelledImage(Prediction(p.name, str(path), p.width, p.height, p.detections), image.truth))
    return out


def run(tmp_path: Path, images: list[LabelledImage], save: Path, worst: int = 5, **kwargs):  # type: ignore[no-untyped-def]
    analysis = analyse(images, NAMES, conf=0.3, worst=worst)
    report = evaluate([im.prediction for im in images], Labels({im.name: im.truth for im in images}, NAMES), 0.3)
    page, warnings = save_evaluation(save, report, analysis, NAMES, {"model": "made-up", "conf": 0.3}, **kwargs)
    return analysis, page, warnings


def linked(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text())


def test_every_picture_is_written_and_linked_from_the_page(tmp_path: Path) -> None:
    images = on_disk(random_images(1, n_images=12), tmp_path / "in")
    analysis, page, warnings = run(tmp_path, images, tmp_path / "out")
    assert warnings == []
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*.*")
        if p.suffix in {".png", ".jpg"}
    )
    assert FIGURES <= set(written)
    assert len([w for w in written if w.startswith("worst/")]) == len(analysis.worst) == 5
    assert sorted(linked(page)) == written  # relative links, each to a file that is there
    for name in written:
        picture = cv2.imread(str(tmp_path / "out" / name))
        assert picture is not None and picture.shape[0] > 200 and picture.std() > 5  # drawn, not blank
    text = page.read_text()
    assert "at conf 0.3 and IoU 0.5" in text and "TIDE" in text and "<script" not in text
    for row in analysis.tide.rows():
        assert f"<td>{row['errors']}</td>" in text


def test_nothing_the_folder_had_is_replaced(tmp_path: Path) -> None:
    images = on_disk(random_images(2, n_images=8), tmp_path / "in")
    out = tmp_path / "out"
    (out / "worst").mkdir(parents=True)
    mine = {out / "pr_curve.png": b"my curve", out / "index.html": b"my page"}
    worst_name = analyse(images, NAMES, conf=0.3, worst=5).worst[0].name
    mine[out / "worst" / Path(worst_name).with_suffix(".jpg")] = b"my picture"
    for path, data in mine.items():
        path.write_bytes(data)
    _, page, warnings = run(tmp_path, images, out)
    assert warnings == [] and page.name == "index_1.html"
    assert all(path.read_bytes() == data for path, data in mine.items())
    assert "pr_curve_1.png" in linked(page)


def test_an_image_gone_since_is_a_warning_and_the_rest_are_drawn(tmp_path: Path) -> None:
    images = on_disk(random_images(3, n_images=10), tmp_path / "in")
    analysis = analyse(images, NAMES, conf=0.3, worst=5)
    Path(analysis.worst[0].source).unlink()
    _, page, warnings = run(tmp_path, images, tmp_path / "out")
    assert [source for source, _ in warnings] == [analysis.worst[0].source]
    assert "worst image not drawn" in warnings[0][1]
    assert len([p for p in linked(page) if p.startswith("worst/")]) == 4


def test_each_false_detection_gets_the_map_of_where_the_model_looked(tmp_path: Path) -> None:
    images = on_disk(random_images(4, n_images=10), tmp_path / "in")
    analysis = analyse(images, NAMES, conf=0.3, worst=3)
    by_source = {s.source: s for s in analysis.worst}
    seen = []

    def explain(image: np.ndarray) -> ImageAttention:  # the "model" finds the same boxes, and looks at a corner
        score = min(by_source.values(), key=lambda s: np.abs(cv2.imread(s.source).astype(int) - image).mean())
        seen.append(score.source)
        heat = np.zeros((50, 50), np.float32)
        heat[:10, :10] = 1.0
        return ImageAttention(score.detections, NAMES, "made-up", {}, {"attention": [heat] * len(score.detections)})

    _, page, warnings = run(tmp_path, images, tmp_path / "out", worst=3, explain=explain)
    assert warnings == [] and sorted(seen) == sorted(by_source)
    attention = [p for p in linked(page) if p.endswith("_attention.jpg")]
    assert len(attention) == sum(int((s.verdict.kind != TRUE_POSITIVE).sum()) for s in analysis.worst) > 0
    for kind in {str(k) for s in analysis.worst for k in s.verdict.kind if k != TRUE_POSITIVE}:
        assert any(f"_{kind}_attention" in p for p in attention)
    first = cv2.imread(str(tmp_path / "out" / attention[0]))
    corner, middle = first[40:80, 5:40].astype(int), first[300:340, 220:260].astype(int)
    assert corner[..., 2].mean() > middle[..., 2].mean() + 40  # red where the map is hot (JET)


def test_a_failing_attention_pass_is_one_warning_per_image(tmp_path: Path) -> None:
    images = on_disk(random_images(4, n_images=10), tmp_path / "in")

    def explain(image: np.ndarray) -> ImageAttention:
        raise RuntimeError("no attention block in this model\nmore detail")

    writer = PictureWriter(tmp_path / "out")
    saved = writer.analysis(analyse(images, NAMES, conf=0.3, worst=3), NAMES, explain=explain)
    assert [w[1] for w in writer.warnings] == ["no attention maps: no attention block in this model"] * 3
    assert all(path is not None and not attention for _, path, attention in saved.worst)


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--virtual-time-budget=15000",
    "--dump-dom",
]
# The page allows no script (its CSP), so a harness page beside it loads it in a frame, makes every
# image load now (they are lazy), and writes each one's natural width into its own DOM for --dump-dom.
HARNESS = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="PAGE" style="width:1200px;height:800px"></iframe>
<script>
const frame = document.getElementById("page");
frame.addEventListener("load", () => {
  const doc = frame.contentDocument;
  if (!doc) { document.getElementById("result").textContent = "no access to the page"; return; }
  const images = Array.from(doc.images);
  images.forEach(img => { img.loading = "eager"; });
  const report = () => { document.getElementById("result").textContent = JSON.stringify(
    images.map(img => ({src: img.getAttribute("src"), width: img.naturalWidth}))); };
  const wait = () => { if (images.every(img => img.complete)) report(); else setTimeout(wait, 50); };
  wait();
});
</script></body></html>"""


def images_in_browser(page: Path, profile: Path) -> list[dict]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): the page cannot be loaded in a browser")
    harness = page.with_name(f"harness_{page.stem}.html")
    harness.write_text(HARNESS.replace("PAGE", page.name))
    done = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", harness.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    harness.unlink()
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.slow  # starts a browser
def test_the_page_loads_every_image_in_a_real_browser(tmp_path: Path) -> None:
    images = on_disk(random_images(1, n_images=12), tmp_path / "in")
    _, page, _ = run(tmp_path, images, tmp_path / "odd name & [folder]")  # a name a URL must escape
    shown = images_in_browser(page, tmp_path / "profile")
    assert len(shown) == len(linked(page)) >= 10
    assert all(image["width"] > 0 for image in shown), [i for i in shown if not i["width"]]
    # the check can fail: a page with one broken link reports it
    broken = page.with_name("broken.html")
    broken.write_text(page.read_text().replace("</body>", '<img src="gone.png" alt="gone"></body>'))
    widths = {i["src"]: i["width"] for i in images_in_browser(broken, tmp_path / "profile")}
    assert widths["gone.png"] == 0 and sum(w > 0 for w in widths.values()) == len(shown)


def test_no_labelled_image_still_gives_every_figure_and_a_page(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib says nothing either
        analysis, page, problems = run(tmp_path, [], tmp_path / "out")
    assert problems == [] and analysis.worst == [] and analysis.tide.ap50 == 0.0
    assert sorted(linked(page)) == sorted(FIGURES)
    assert "No image has an error at conf 0.3" in page.read_text()
