"""Read and decode one source into an upright BGR uint8 array, or raise `InputError`.

PIL decodes (it knows EXIF orientation, CMYK, 16-bit and palette images); the array is
what a photo viewer shows, so boxes line up with what users see. Every input is treated
as hostile: only regular files are opened (a FIFO or a device never is: `core.guarded_read`), the first bytes
must carry a known image signature before the rest is read, a file larger than any image
within `max_pixels` could be is refused unread, and a URL download is bounded in bytes and,
as a whole, in time (`downloads.py`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detect_cli.core.errors import InputError, amount, one_line
from detect_cli.core.guarded_read import HEAD_BYTES, UnreadableFile, read_bytes
from detect_cli.inputs.sources import Source

Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a message that says what to do
if "PILLOW_BLOCK_SIZE" not in os.environ and hasattr(Image.core, "set_block_size"):
    # PIL allocates pixels in 16 MiB blocks, which the C heap keeps once freed (they are under glibc's 32 MiB
    # mmap threshold): a read-ahead thread that decoded a 100 MP photo kept its 400 MB for the rest of the run.
    # Blocks this large are mapped and unmapped instead; a small image still takes only the bytes it needs.
    Image.core.set_block_size(64 * 2**20)

# The formats that sources.IMAGE_SUFFIXES name; PIL is asked for these alone (its JPEG reader opens MPOs too)
DECODE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
SNIFF_BYTES = HEAD_BYTES  # a file's first bytes, checked before the rest is read (URLs: see downloads)
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
STRIP_BYTES = 2**20  # pixels are copied out of PIL in strips this big (see _rgb_to_bgr_array)
_MULTI_FRAME = {
    "GIF": ("animated GIF", "frames"),
    "TIFF": ("multi-page TIFF", "pages"),
    "WEBP": ("animated WebP", "frames"),
    "PNG": ("animated PNG", "frames"),
}


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
    if source.pixels is not None:  # given in memory from Python, checked when it was given (arrays.py)
        return Decoded(source.pixels)
    if source.is_url:
        data = fetch_url(source.ref, options, image_only=True)
    else:
        data = _read_file(source.ref, options.max_file_bytes)
    return decode(data, options.max_pixels)


def looks_like_image(head: bytes) -> bool:
    """Whether the first bytes of a file carry the signature of one of DECODE_FORMATS."""
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _read_file(path: str, limit: int) -> bytearray:
    try:
        return read_bytes(path, limit, check_head=_file_head, head_bytes=SNIFF_BYTES, too_big=_file_too_big)
    except UnreadableFile as exc:
        raise InputError(f"cannot read file: {exc}" if exc.os_error or "folder" in str(exc) else str(exc)) from None


def _file_head(head: bytes) -> None:
    if not head:
        raise InputError("empty file (0 bytes)")
    if not looks_like_image(head):
        raise InputError(NOT_AN_IMAGE)


def _file_too_big(size: int, limit: int) -> str:
    max_pixels = (limit - METADATA_BYTES) // BYTES_PER_PIXEL_ON_DISK
    return (
        f"file is {amount(size / 2**20)} MiB, more than any image within the {amount(max_pixels / 1e6)} MP "
        "max_pixels limit needs (raise max_pixels in the config to allow it)"
    )


def fetch_url(url: str, options: ReadOptions, *, image_only: bool = False) -> bytes:
    """The body of an http(s) URL within `url_timeout` and `url_max_bytes` (see `downloads`); with
    `image_only`, a body whose first bytes are not an image's is refused before the rest comes."""
    from detect_cli.inputs.downloads import download  # urllib, http.client, ssl: only a URL needs them

    return download(
        url,
        timeout=options.url_timeout,
        max_bytes=options.url_max_bytes,
        check_head=_image_head if image_only else None,
    )


def _image_head(head: bytes) -> None:
    if not looks_like_image(head):
        raise InputError(NOT_AN_IMAGE)


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
        raise InputError(f"cannot decode image: {one_line(exc)}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(
            f"image is {width}x{height} = {amount(width * height / 1e6)} MP, over the {amount(max_pixels / 1e6)} MP "
            "limit that guards against decompression bombs (raise max_pixels in the config to allow it)"
        )
    try:
        warnings = _frame_warnings(image)
        image.load()
        # in place: without an Orientation tag nothing is copied (the default returns a copy: a 400 MP
        # photo held twice, 1.6 GB more at the peak); with one, only the rotated pixels are made
        ImageOps.exif_transpose(image, in_place=True)
        return Decoded(to_bgr(image), warnings)
    except Exception as exc:
        raise InputError(f"cannot decode image: {one_line(exc)}") from None


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
    """Copy an RGB image out as BGR, with PIL's own raw encoder writing into the array a strip at a time:
    peak memory is the PIL image, the array and one strip, and each pixel is packed once (a crop then
    `tobytes` per strip, or `np.asarray` then a channel flip, copy the pixels two or three times more:
    1.5-5x slower on a 12 MP photo, and a 100 MP photo would hold 0.7 GB more)."""
    image.load()
    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    if not out.size:
        return out
    flat = memoryview(out).cast("B")
    encoder = Image._getencoder("RGB", "raw", ("BGR",))  # what `Image.tobytes` uses, without its join
    try:
        encoder.setimage(image.im, (0, 0, width, height))
        # a strip, no bigger than the image (a small image's 1 MiB buffer would cost more than its pixels), and at
        # least a row and a bit (RawEncode.c)
        chunk_bytes = max(width * 4, min(STRIP_BYTES, out.size))
        done, status = 0, 0
        while not status:
            _, status, chunk = encoder.encode(chunk_bytes)
            flat[done : done + len(chunk)] = chunk
            done += len(chunk)
    finally:
        encoder.cleanup()
    if status < 0 or done != out.size:
        raise RuntimeError(f"raw encoder error {status} after {done} of {out.size} bytes")
    return out
