"""Read and decode one source into an upright BGR uint8 array, or raise `InputError`.

PIL decodes (it knows EXIF orientation, CMYK, 16-bit and palette images); the array is
what a photo viewer shows, so boxes line up with what users see. Every input is treated
as hostile: only regular files are opened (a FIFO or a device never is), the first bytes
must carry a known image signature before the rest is read, a file larger than any image
within `max_pixels` could be is refused unread, and a URL download is bounded in bytes and,
as a whole, in time (see `fetch_url`).
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import stat
import string
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote, urljoin

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detect_cli import __version__
from detect_cli.errors import InputError
from detect_cli.sources import Source, not_regular_message, url_problem

Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a message that says what to do
if "PILLOW_BLOCK_SIZE" not in os.environ and hasattr(Image.core, "set_block_size"):
    # PIL allocates pixels in 16 MiB blocks, which the C heap keeps once freed (they are under glibc's 32 MiB
    # mmap threshold): a read-ahead thread that decoded a 100 MP photo kept its 400 MB for the rest of the run.
    # Blocks this large are mapped and unmapped instead; a small image still takes only the bytes it needs.
    Image.core.set_block_size(64 * 2**20)

# The formats that sources.IMAGE_SUFFIXES name; PIL is asked for these alone (its JPEG reader opens MPOs too)
DECODE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
SNIFF_BYTES = 16
_SIGNATURES = (
    b"\xff\xd8\xff",  # JPEG, MPO
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF, little- and big-endian, then BigTIFF
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",
)
NOT_AN_IMAGE = "not an image (unrecognised file format)"
BYTES_PER_PIXEL_ON_DISK = 8  # 16-bit RGBA, stored uncompressed: the most any of DECODE_FORMATS needs
METADATA_BYTES = 64 * 2**20
STRIP_BYTES = 16 * 2**20  # pixels are copied out of PIL in strips this big (see to_bgr)
_MULTI_FRAME = {"GIF": ("animated GIF", "frames"), "TIFF": ("multi-page TIFF", "pages"),
                "WEBP": ("animated WebP", "frames"), "PNG": ("animated PNG", "frames")}  # fmt: skip


@dataclass(frozen=True)
class ReadOptions:
    max_pixels: int = 100_000_000
    url_timeout: float = 10.0  # seconds for the whole download, headers and body
    url_max_bytes: int = 50 * 1024 * 1024

    @property
    def max_file_bytes(self) -> int:
        """No image within `max_pixels` needs a bigger file: larger files are refused unread."""
        return BYTES_PER_PIXEL_ON_DISK * self.max_pixels + METADATA_BYTES


@dataclass(frozen=True)
class Decoded:
    """Decoded pixels, and what a record should say about how they were obtained."""

    pixels: np.ndarray
    warnings: tuple[str, ...] = ()


def read_image(source: Source, options: ReadOptions = ReadOptions()) -> np.ndarray:
    """Return the image as an (H, W, 3) BGR uint8 array, EXIF-rotated."""
    return read_decoded(source, options).pixels


def read_decoded(source: Source, options: ReadOptions = ReadOptions()) -> Decoded:
    """`read_image`, with the warnings a record should carry (only the first frame of an animation was used)."""
    if source.error:
        raise InputError(source.error)
    if source.is_url:
        data = fetch_url(source.ref, options, image_only=True)
    else:
        data = _read_file(source.ref, options.max_file_bytes)
    return decode(data, options.max_pixels)


def looks_like_image(head: bytes) -> bool:
    """Whether the first bytes of a file carry the signature of one of DECODE_FORMATS."""
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _read_file(path: str, limit: int) -> bytes:
    try:
        mode = os.stat(path).st_mode
        _check_regular(mode)
        # O_NONBLOCK: were a FIFO swapped in after the check, opening it must still not block
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        with open(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            _check_regular(info.st_mode)
            if info.st_size > limit:
                raise InputError(_file_too_big(info.st_size, limit))
            head = fh.read(SNIFF_BYTES)
            if not head:
                raise InputError("empty file (0 bytes)")
            if not looks_like_image(head):
                raise InputError(NOT_AN_IMAGE)
            fh.seek(0)
            data = fh.read(limit + 1)  # bounded even where st_size lies (files in /proc say 0)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(_file_too_big(len(data), limit))
    return data


def _check_regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise InputError("cannot read file: it is a folder")
    problem = not_regular_message(mode)
    if problem:
        raise InputError(problem)


def _file_too_big(size: int, limit: int) -> str:
    max_pixels = (limit - METADATA_BYTES) // BYTES_PER_PIXEL_ON_DISK
    return (
        f"file is {_amount(size / 2**20)} MiB, more than any image within the {_amount(max_pixels / 1e6)} MP "
        "max_pixels limit needs (raise max_pixels in the config to allow it)"
    )


def _amount(value: float) -> str:
    """Whole numbers from 10 up, two significant digits below (so small limits don't print as 0)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def fetch_url(url: str, options: ReadOptions, *, image_only: bool = False) -> bytes:
    """The body of an http(s) URL, or InputError. `url_timeout` bounds the whole download (a server
    that drips a byte at a time is cut off), `url_max_bytes` its size; redirects are followed to
    http(s) only; a body shorter than its Content-Length is refused. With `image_only`, a body
    whose first bytes are not an image's is refused before the rest is downloaded."""
    problem = url_problem(url)
    if problem:
        raise InputError(problem)
    deadline = _Deadline(options.url_timeout)
    timed_out = f"timed out after {options.url_timeout:g} s"
    request = urllib.request.Request(url, headers={"User-Agent": f"attn-detect/{__version__}"})
    try:
        with _opener(deadline).open(request, timeout=options.url_timeout) as response:
            declared = getattr(response, "length", None)  # from Content-Length; None when chunked or absent
            if declared is not None and declared > options.url_max_bytes:
                raise InputError(_too_big(options.url_max_bytes))
            data = _read_body(response, options.url_max_bytes, deadline, image_only)
    except InputError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        raise InputError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise InputError(timed_out if deadline.expired or _is_timeout(exc) else _fetch_failed(exc)) from None
    finally:
        deadline.cancel()
    if deadline.expired:  # the watchdog shut the socket: what was read is only a part
        raise InputError(timed_out)
    if len(data) > options.url_max_bytes:
        raise InputError(_too_big(options.url_max_bytes))
    if declared is not None and len(data) < declared:
        raise InputError(f"truncated download: got {len(data)} of {declared} bytes")
    if not data:
        raise InputError("empty response (0 bytes)")
    return data


def _read_body(response: http.client.HTTPResponse, limit: int, deadline: _Deadline, image_only: bool) -> bytes:
    body = bytearray()
    sniffed = not image_only
    while len(body) <= limit and not deadline.expired:
        chunk = response.read1(min(1 << 20, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if not sniffed and len(body) >= SNIFF_BYTES:
            sniffed = True
            if not looks_like_image(bytes(body[:SNIFF_BYTES])):
                raise InputError(NOT_AN_IMAGE)
    if not sniffed and body and not looks_like_image(bytes(body)):
        raise InputError(NOT_AN_IMAGE)
    return bytes(body)


class _Deadline:
    """Bounds a whole download. A socket timeout bounds one read, so a server that sends a byte just
    before each timeout would hold a read for ever; at the deadline, this shuts down every socket it
    watches, which wakes any read blocked on them (from the timer's own daemon thread)."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True  # a pending timer must not keep the interpreter alive at exit
        self._timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: never touches TLS state
    except OSError:
        pass  # already closed, or a raw socket whose descriptor TLS has taken over


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """http(s) only: no ftp or file handlers, and a redirect is checked like the URL itself."""
    opener = urllib.request.OpenerDirector()
    handlers = [
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTPHandler(deadline),
        _HTTPSHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        _HttpOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ]
    for handler in handlers:
        opener.add_handler(handler)
    return opener


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Every hop is checked like the URL given (urllib itself would follow a redirect to ftp://)."""

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urljoin(req.full_url, location)
            problem = url_problem(quote(target, encoding="iso-8859-1", safe=string.punctuation))  # as urllib will
            if problem:
                fp.close()
                raise InputError(f"refused a redirect to {_short(target)}: {problem}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _WatchedConnections:
    """A handler mixin: its connections register their sockets with the download's deadline."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class, req, **kwargs):  # type: ignore[no-untyped-def]
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)  # type: ignore[misc]


class _HTTPHandler(_WatchedConnections, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_WatchedConnections, urllib.request.HTTPSHandler):
    pass


def _watched(http_class: type[http.client.HTTPConnection], deadline: _Deadline) -> type[http.client.HTTPConnection]:
    class Watched(http_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            connect = self._create_connection
            self._create_connection = lambda *a, **k: deadline.watch(connect(*a, **k))  # the raw TCP socket

        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)  # and the TLS socket that may have replaced it

    return Watched


def _is_timeout(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, TimeoutError) or "timed out" in str(reason)


def _fetch_failed(exc: BaseException) -> str:
    if isinstance(exc, http.client.InvalidURL):
        return f"invalid URL: {_one_line(exc)}"
    if isinstance(exc, http.client.HTTPException):
        name, detail = type(exc).__name__, _one_line(exc)
        what = detail if detail.startswith(name) else f"{name}: {detail}" if detail else name
        return f"bad HTTP response from the server ({what})"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return f"cannot fetch URL: {_one_line(reason)}"


def _too_big(limit: int) -> str:
    return f"download larger than the {_amount(limit / 2**20)} MiB limit (url_max_mb in the config raises it)"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    return decode(data, max_pixels).pixels


def decode(data: bytes | bytearray, max_pixels: int) -> Decoded:
    """Decode the first frame of an image file's bytes, after checking its size against `max_pixels`."""
    if not looks_like_image(bytes(data[:SNIFF_BYTES])):
        raise InputError(NOT_AN_IMAGE)
    try:
        image = _pil_open()(io.BytesIO(data), formats=DECODE_FORMATS)
    except (UnidentifiedImageError, ImportError):
        raise InputError(NOT_AN_IMAGE) from None
    except Exception as exc:  # PIL raises many types for damaged headers
        raise InputError(f"cannot decode image: {_one_line(exc)}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(
            f"image is {width}x{height} = {_amount(width * height / 1e6)} MP, over the {_amount(max_pixels / 1e6)} MP "
            "limit that guards against decompression bombs (raise max_pixels in the config to allow it)"
        )
    try:
        warnings = _frame_warnings(image)
        image.load()
        image = ImageOps.exif_transpose(image)
        return Decoded(to_bgr(image), warnings)
    except Exception as exc:
        raise InputError(f"cannot decode image: {_one_line(exc)}") from None


def _frame_warnings(image: Image.Image) -> tuple[str, ...]:
    """Say so when only the first of several frames is used (an MPO's second picture is a camera's
    preview or depth map, not a second photo: no note for it)."""
    described = _MULTI_FRAME.get(image.format or "")
    if described is None:
        return ()
    try:
        frames = int(getattr(image, "n_frames", 1))  # walks frame headers without decoding them
    except Exception:
        return ()
    finally:
        image.seek(0)
    if frames <= 1:
        return ()
    kind, unit = described
    return (f"{kind} with {frames} {unit}: only the first was used",)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _pil_open():
    """PIL's own `Image.open`: Ultralytics replaces it with one that tries to pip-install a HEIF
    plugin whenever a file is not an image."""
    opener = Image.open
    if getattr(opener, "__module__", "").startswith("ultralytics"):
        from ultralytics.utils import patches

        opener = getattr(patches, "_image_open", opener)
    return opener


def to_bgr(image: Image.Image) -> np.ndarray:
    """Any PIL mode (16-bit, float, grayscale, palette, RGBA, CMYK) to BGR uint8."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        arr = np.asarray(image, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[..., 0]
        peak = float(arr.max()) if arr.size else 0.0
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        gray = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if image.mode == "RGBA" or (image.mode == "P" and "transparency" in image.info) or image.mode == "LA":
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (114, 114, 114, 255))  # Ultralytics' letterbox grey
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return _rgb_to_bgr_array(image)


def _rgb_to_bgr_array(image: Image.Image) -> np.ndarray:
    """Copy an RGB image out as BGR, strip by strip: peak memory is the PIL image, the array and one
    strip, where `np.asarray` then a channel flip would hold two more full copies (a 100 MP photo:
    about 0.7 GB instead of 1.4 GB)."""
    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, STRIP_BYTES // max(1, width * 3))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = image.crop((0, top, width, bottom)).tobytes("raw", "BGR")
        out[top:bottom] = np.frombuffer(strip, np.uint8).reshape(bottom - top, width, 3)
    return out
