"""`read_image` / `decode_image` / `fetch_url`: every odd input becomes (H, W, 3) uint8 BGR or a clean InputError."""

from __future__ import annotations

import io
import os
import re
import resource
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detect_cli.core.errors import InputError
from detect_cli.inputs import images
from detect_cli.inputs.images import ReadOptions, decode_image, fetch_url, read_decoded, read_image
from detect_cli.inputs.sources import Source, iter_sources
from tests.helpers import image_bytes, jpeg_bytes, pattern_rgb
from tests.http_server import BIG_BYTES, HTML, PHOTO_PATH, PHOTO_SHAPE, SHORT_DECLARED, SHORT_SENT

RED = (255, 0, 0)  # RGB, as PIL takes it
BGR_RED = (0, 0, 255)
GREY = 114  # what transparent pixels are composited onto


def assert_bgr_image(arr: np.ndarray, height: int, width: int) -> None:
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == np.uint8
    assert arr.shape == (height, width, 3)
    assert arr.flags.c_contiguous


def near(pixel: np.ndarray, expected: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(expected)) <= tol))


# --- each builder returns (bytes, check(arr)) ---------------------------------------------------------------


def _gray16():
    a = np.zeros((30, 40), np.uint16)
    a[:, 20:] = 65535
    a[0, 0] = 32768
    image = Image.fromarray(a)
    assert image.mode == "I;16"

    def check(arr):
        assert (arr[:, 20:] == 255).all() and (arr[1:, :20] == 0).all()
        assert 120 <= arr[0, 0, 0] <= 135  # mid-grey, scaled from 16 bits, not clipped to white
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()

    return image_bytes(image, "PNG"), check


def _rgba():
    a = np.zeros((30, 40, 4), np.uint8)
    a[:, :20] = (*RED, 255)  # opaque red on the left, fully transparent on the right

    def check(arr):
        assert (arr[:, :20] == BGR_RED).all()
        assert (arr[:, 20:] == GREY).all()

    return image_bytes(Image.fromarray(a, "RGBA"), "PNG"), check


def _gray():
    a = np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))

    def check(arr):
        for c in range(3):
            np.testing.assert_array_equal(arr[..., c], a)

    return image_bytes(Image.fromarray(a, "L"), "PNG"), check


def _gray_alpha():
    image = Image.new("LA", (40, 30), (200, 255))
    image.paste((0, 0), (20, 0, 40, 30))  # right half transparent

    def check(arr):
        assert (arr[:, :20] == 200).all() and (arr[:, 20:] == GREY).all()

    return image_bytes(image, "PNG"), check


def _palette():
    image = Image.new("P", (40, 30), 0)
    image.putpalette([*RED, 0, 0, 255] + [0] * 762)
    image.paste(1, (20, 0, 40, 30))  # right half: palette entry 1 = blue

    def check(arr):
        assert (arr[:, :20] == BGR_RED).all() and (arr[:, 20:] == (255, 0, 0)).all()

    return image_bytes(image, "PNG"), check


def _palette_transparent():
    image = Image.new("P", (40, 30), 0)
    image.putpalette([*RED, 0, 255, 0] + [0] * 762)
    image.paste(1, (20, 0, 40, 30))
    image.info["transparency"] = 1

    def check(arr):
        assert (arr[:, :20] == BGR_RED).all() and (arr[:, 20:] == GREY).all()

    return image_bytes(image, "PNG", transparency=1), check


def _cmyk_jpeg():
    image = Image.new("RGB", (40, 30), RED).convert("CMYK")

    def check(arr):
        assert near(arr[15, 20], BGR_RED)

    return image_bytes(image, "JPEG", quality=95), check


def _bilevel():
    image = Image.new("1", (40, 30), 0)
    image.paste(1, (0, 0, 10, 30))

    def check(arr):
        assert (arr[:, :10] == 255).all() and (arr[:, 10:] == 0).all()

    return image_bytes(image, "PNG"), check


def _float_tiff():
    a = np.tile(np.linspace(0, 255, 40, dtype=np.float32), (30, 1))

    def check(arr):
        assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255

    return image_bytes(Image.fromarray(a, "F"), "TIFF"), check


def _rgb(fmt: str, **kw):
    def build():
        rgb = pattern_rgb(30, 40)

        def check(arr):
            tol = 0 if fmt in {"PNG", "BMP", "TIFF"} else 12
            assert np.abs(arr[..., ::-1].astype(int) - rgb.astype(int)).max() <= tol  # BGR order

        return image_bytes(rgb, fmt, **kw), check

    return build


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(_gray16, id="png-16bit-I;16"),
        pytest.param(_rgba, id="png-rgba"),
        pytest.param(_gray, id="png-grayscale"),
        pytest.param(_gray_alpha, id="png-gray-alpha"),
        pytest.param(_palette, id="png-palette"),
        pytest.param(_palette_transparent, id="png-palette-transparency"),
        pytest.param(_cmyk_jpeg, id="jpeg-cmyk"),
        pytest.param(_bilevel, id="png-1bit"),
        pytest.param(_float_tiff, id="tiff-float"),
        pytest.param(_rgb("PNG"), id="png-rgb"),
        pytest.param(_rgb("JPEG", quality=98), id="jpeg-rgb"),
        pytest.param(_rgb("BMP"), id="bmp"),
        pytest.param(_rgb("TIFF"), id="tiff"),
        pytest.param(_rgb("WEBP", lossless=True), id="webp"),
    ],
)
def test_decodes_to_bgr_uint8(tmp_path: Path, build):
    data, check = build()
    arr = decode_image(data, max_pixels=10_000)
    assert_bgr_image(arr, 30, 40)
    check(arr)
    path = tmp_path / "image"  # the same through read_image, from a file without an extension
    path.write_bytes(data)
    np.testing.assert_array_equal(read_image(Source(str(path), "image")), arr)


def _truncated_jpeg() -> bytes:
    data = jpeg_bytes(64, 64, seed=1)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty file (0 bytes)", id="zero-bytes"),
        pytest.param(_truncated_jpeg(), "truncated", id="truncated-jpeg"),
        pytest.param(jpeg_bytes()[:40], "cannot decode image", id="jpeg-header-only"),
        pytest.param(b"hello, I am text\n" * 10, "not an image", id="text-named-jpg"),
        pytest.param(b"<!doctype html><html></html>", "not an image", id="html-named-jpg"),
        pytest.param(b"\xff\xd8\xff", "not an image", id="three-byte-jpeg-magic"),
    ],
)
def test_bad_files_give_clean_input_errors(tmp_path: Path, data: bytes, message: str):
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_image(Source(str(path), path.name))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: Source(str(p / "missing.jpg"), "missing.jpg"), "no such file"),
        (lambda p: Source(str(p), "dir"), "cannot read file"),
        (lambda p: Source("x.jpg", "x.jpg", error="no such file or folder"), "no such file or folder"),
    ],
)
def test_unreadable_sources(tmp_path: Path, make, message: str):
    with pytest.raises(InputError, match=message):
        read_image(make(tmp_path))


@pytest.mark.parametrize(
    ("orientation", "shape", "corner"),
    [
        (1, (20, 40), "top-left"),
        (2, (20, 40), "top-right"),  # mirrored
        (3, (20, 40), "bottom-right"),  # 180
        (6, (40, 20), "top-right"),  # 90 clockwise: the stored top-left ends at the top right
        (8, (40, 20), "bottom-left"),  # 90 counter-clockwise
    ],
)
def test_exif_orientation_is_applied(orientation: int, shape: tuple[int, int], corner: str):
    stored = np.full((20, 40, 3), 255, np.uint8)
    stored[:6, :6] = RED  # marker at the stored top-left
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    arr = decode_image(image_bytes(image, "JPEG", quality=95, exif=exif), max_pixels=10_000)
    assert_bgr_image(arr, *shape)
    h, w = shape
    corners = {
        "top-left": arr[1:4, 1:4],
        "top-right": arr[1:4, w - 4 : w - 1],
        "bottom-left": arr[h - 4 : h - 1, 1:4],
        "bottom-right": arr[h - 4 : h - 1, w - 4 : w - 1],
    }
    for name, patch in corners.items():
        is_red = near(patch.mean(axis=(0, 1)), BGR_RED, tol=60)
        assert is_red == (name == corner), f"{name} red={is_red}"


def _limit_in_message(message: str, unit: str) -> float:
    match = re.search(rf"over the ([0-9.e+-]+) {unit} limit|larger than the ([0-9.e+-]+) {unit} limit", message)
    assert match, message
    return float(match.group(1) or match.group(2))


@pytest.mark.parametrize("max_pixels", [1, 1000, 3071, 250_000])
def test_decompression_bomb_guard_names_the_limit(max_pixels: int):
    data = jpeg_bytes(48, 64) if max_pixels < 64 * 48 else _png_header_only(1000, 1000)
    with pytest.raises(InputError) as info:
        decode_image(data, max_pixels=max_pixels)
    message = str(info.value)
    assert "max_pixels" in message and "decompression bomb" in message
    assert _limit_in_message(message, "MP") == pytest.approx(max_pixels / 1e6, rel=0.1)


def test_decompression_bomb_guard_allows_exactly_the_limit():
    assert decode_image(jpeg_bytes(48, 64), max_pixels=64 * 48).shape == (48, 64, 3)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` but has no pixel data: decoding it would fail."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_bomb_guard_runs_before_pixels_are_decoded():
    data = _png_header_only(100_000, 100_000)  # 10 GP claimed, a few bytes on disk
    with pytest.raises(InputError, match="100000x100000 = 10000 MP"):
        decode_image(data, max_pixels=100_000_000)
    with pytest.raises(InputError, match="cannot decode image"):  # the same bytes under the limit: decode fails
        decode_image(_png_header_only(10, 10), max_pixels=100_000_000)


# --- URLs, against the local server -----------------------------------------------------------------------


def url_source(url: str) -> Source:
    [source] = iter_sources([url])
    return source


def test_url_jpeg_with_query_string_and_no_extension(http_server: str):
    source = url_source(http_server + PHOTO_PATH)
    assert source.is_url and source.error is None and source.name == "photo.jpg"
    arr = read_image(source, ReadOptions(url_timeout=5))
    assert_bgr_image(arr, *PHOTO_SHAPE[:2])


def test_url_404(http_server: str):
    with pytest.raises(InputError) as info:
        read_image(url_source(http_server + "/missing?x=1"), ReadOptions(url_timeout=5))
    assert "404" in str(info.value)


def test_url_timeout(http_server: str):
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        fetch_url(http_server + "/slow", ReadOptions(url_timeout=0.5))
    assert "timed out" in str(info.value) and "0.5" in str(info.value)
    assert time.perf_counter() - start < 2.5  # gave up, did not wait for the 3 s answer


def test_url_cut_by_its_deadline_says_timed_out_whatever_arrived(http_server: str):
    """The drip sends a byte every 0.4 s: at a 1 s deadline, 2 or 3 bytes of a JPEG have come (fewer on
    a loaded machine), too few for its signature. That is a timeout, not "not an image"."""
    with pytest.raises(InputError) as info:
        fetch_url(http_server + "/drip", ReadOptions(url_timeout=1.0), image_only=True)
    assert str(info.value) == "timed out after 1 s"


def test_url_not_an_image(http_server: str):
    assert fetch_url(http_server + "/page", ReadOptions(url_timeout=5)) == HTML
    with pytest.raises(InputError, match="not an image"):
        read_image(url_source(http_server + "/page"), ReadOptions(url_timeout=5))


@pytest.mark.parametrize("path", ["/big", "/big-stream"])  # with and without a Content-Length header
@pytest.mark.parametrize("cap", [1000, BIG_BYTES - 1])
def test_url_too_large(http_server: str, path: str, cap: int):
    with pytest.raises(InputError) as info:
        fetch_url(http_server + path, ReadOptions(url_timeout=5, url_max_bytes=cap))
    message = str(info.value)
    assert "larger than" in message and "url_max_mb" in message
    assert _limit_in_message(message, "MiB") == pytest.approx(cap / 2**20, rel=0.1)


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
def test_url_exactly_at_the_cap_is_accepted(http_server: str, path: str):
    data = fetch_url(http_server + path, ReadOptions(url_timeout=5, url_max_bytes=BIG_BYTES))
    assert len(data) == BIG_BYTES


def test_url_connection_refused():
    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot fetch URL"):
        fetch_url(f"http://127.0.0.1:{port}/x.jpg", ReadOptions(url_timeout=2))


# --- hostile inputs: each is one clean InputError, quickly, without reading what it need not ---------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/bad-chunked", "bad HTTP response from the server (IncompleteRead"),
        ("/bad-status", "bad HTTP response from the server (BadStatusLine"),
        ("/many-headers", "got more than 100 headers"),
        ("/short", f"truncated download: got {SHORT_SENT} of {SHORT_DECLARED} bytes"),
        ("/to-ftp", "refused a redirect to ftp://127.0.0.1/x.jpg: only http:// and https://"),
        ("/to-file", "refused a redirect to file:///etc/passwd: only http:// and https://"),
    ],
)
def test_misbehaving_server_gives_an_input_error(http_server: str, path: str, message: str):
    with pytest.raises(InputError) as info:
        fetch_url(http_server + path, ReadOptions(url_timeout=5))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["http://[::1/x.jpg", "http://127.0.0.1:abc/x.jpg", "http://127.0.0.1:99999/x.jpg", "http:///x.jpg"]
)
def test_malformed_url_given_to_fetch_url(url: str):
    with pytest.raises(InputError, match=r"^invalid URL"):
        fetch_url(url, ReadOptions(url_timeout=5))


def test_redirect_to_http_is_followed(http_server: str):
    assert decode_image(fetch_url(http_server + "/redirect", ReadOptions(url_timeout=5)), 10_000).shape == PHOTO_SHAPE


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_url_timeout_bounds_the_whole_download(http_server: str, path: str):
    """A byte every DRIP_S < timeout: no single read times out, yet the download must end at the deadline."""
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"timed out after 1\.2 s"):
        fetch_url(http_server + path, ReadOptions(url_timeout=1.2))
    assert 1.1 < time.perf_counter() - start < 2.2


def test_url_body_that_is_not_an_image_stops_early(http_server: str):
    with pytest.raises(InputError, match="not an image"):
        fetch_url(http_server + "/page", ReadOptions(url_timeout=5), image_only=True)


def _release_fifo_readers(path: Path, stop: threading.Event) -> None:
    """Test guard: should a reader block on the FIFO (the bug), open it for writing so the test fails, not hangs."""
    while not stop.wait(0.1):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # succeeds only while a reader waits
        except OSError:
            pass


def test_fifo_is_refused_without_blocking(tmp_path: Path):
    path = tmp_path / "b.jpg"
    os.mkfifo(path)
    stop = threading.Event()
    threading.Thread(target=_release_fifo_readers, args=(path, stop), daemon=True).start()
    try:
        with pytest.raises(InputError, match=r"not a regular file \(FIFO\)"):
            read_image(Source(str(path), path.name))
    finally:
        stop.set()


def test_symlink_to_a_device_is_refused(tmp_path: Path):
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"not a regular file \(character device\)"):
        read_image(Source(str(link), link.name))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)  # a hole: no disk, no time; reading it would still cost `size` bytes of memory
    return path


def test_large_non_image_is_refused_from_its_first_bytes(tmp_path: Path):
    path = _sparse(tmp_path / "movie.jpg", 600 * 2**20, b"\x00\x00\x00\x18ftypmp42")
    before = _peak_rss_mb()
    with pytest.raises(InputError, match="not an image"):
        read_image(Source(str(path), path.name), ReadOptions(max_pixels=10**9))
    assert _peak_rss_mb() - before < 100


def test_file_larger_than_any_allowed_image_is_refused_unread(tmp_path: Path):
    path = _sparse(tmp_path / "huge.jpg", 2 * 2**30, b"\xff\xd8\xff\xe0")  # a JPEG's first bytes, then 2 GiB
    before = _peak_rss_mb()
    with pytest.raises(InputError) as info:
        read_image(Source(str(path), path.name))
    assert "file is 2048 MiB" in str(info.value) and "100 MP max_pixels" in str(info.value)
    assert _peak_rss_mb() - before < 100
    assert ReadOptions(max_pixels=10).max_file_bytes < 2 * 2**30 < ReadOptions(max_pixels=10**9).max_file_bytes


def _frames(fmt: str, count: int, **save_kwargs: object) -> bytes:
    frames = [Image.fromarray(np.full((20, 30, 3), 20 * i, np.uint8)) for i in range(count)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], **save_kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "warnings"),
    [
        (_frames("GIF", 12, duration=50, loop=0), ("animated GIF with 12 frames: only the first was used",)),
        (_frames("TIFF", 3), ("multi-page TIFF with 3 pages: only the first was used",)),
        (_frames("WEBP", 4, lossless=True), ("animated WebP with 4 frames: only the first was used",)),
        (_frames("PNG", 2), ("animated PNG with 2 frames: only the first was used",)),
        (_frames("GIF", 1), ()),
        (_frames("TIFF", 1), ()),
    ],
)
def test_only_the_first_frame_is_used_and_that_is_said(tmp_path: Path, data: bytes, warnings: tuple[str, ...]):
    path = tmp_path / "anim"
    path.write_bytes(data)
    decoded = read_decoded(Source(str(path), "anim"))
    assert decoded.warnings == warnings
    assert_bgr_image(decoded.pixels, 20, 30)
    assert decoded.pixels.max() <= 2  # frame 0 is black; later frames are 20, 40, ...


def test_pixels_are_copied_out_in_strips_exactly(monkeypatch: pytest.MonkeyPatch):
    rgb = np.random.default_rng(5).integers(0, 256, (37, 23, 3), dtype=np.uint8)
    expected = decode_image(image_bytes(rgb, "PNG"), 10_000)
    monkeypatch.setattr(images, "STRIP_BYTES", 100)  # one row (69 bytes) a chunk: 37 chunks
    np.testing.assert_array_equal(decode_image(image_bytes(rgb, "PNG"), 10_000), expected)
    np.testing.assert_array_equal(expected, rgb[..., ::-1])


def test_an_image_not_loaded_yet_is_copied_out_whole():
    """`to_bgr` is also given PIL images straight from `Image.open` (arrays.py): it loads them first."""
    rgb = np.random.default_rng(6).integers(0, 256, (19, 31, 3), dtype=np.uint8)
    np.testing.assert_array_equal(images.to_bgr(Image.open(io.BytesIO(image_bytes(rgb, "PNG")))), rgb[..., ::-1])
