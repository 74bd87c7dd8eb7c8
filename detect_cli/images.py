"""Read and decode one source into an upright BGR uint8 array, or raise `InputError`.

PIL decodes (it knows EXIF orientation, CMYK, 16-bit and palette images); the array is
what a photo viewer shows, so boxes line up with what users see. URLs are fetched with a
timeout and a size cap.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detect_cli import __version__
from detect_cli.errors import InputError
from detect_cli.sources import Source

Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a message that says what to do


@dataclass(frozen=True)
class ReadOptions:
    max_pixels: int = 100_000_000
    url_timeout: float = 10.0
    url_max_bytes: int = 50 * 1024 * 1024


def read_image(source: Source, options: ReadOptions = ReadOptions()) -> np.ndarray:
    """Return the image as an (H, W, 3) BGR uint8 array, EXIF-rotated."""
    if source.error:
        raise InputError(source.error)
    data = fetch_url(source.ref, options) if source.is_url else _read_file(source.ref)
    return decode_image(data, options.max_pixels)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError("no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise InputError("empty file (0 bytes)")
    return data


def fetch_url(url: str, options: ReadOptions) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": f"attn-detect/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=options.url_timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > options.url_max_bytes:
                raise InputError(_too_big(int(declared), options.url_max_bytes))
            data = response.read(options.url_max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise InputError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise InputError(f"timed out after {options.url_timeout:g} s") from None
        raise InputError(f"cannot fetch URL: {reason}") from None
    except TimeoutError:
        raise InputError(f"timed out after {options.url_timeout:g} s") from None
    except OSError as exc:
        raise InputError(f"cannot fetch URL: {exc}") from None
    if len(data) > options.url_max_bytes:
        raise InputError(_too_big(len(data), options.url_max_bytes))
    if not data:
        raise InputError("empty response (0 bytes)")
    return data


def _too_big(size: int, limit: int) -> str:
    return f"download larger than the {_amount(limit / 2**20)} MiB limit (url_max_mb in the config raises it)"


def _amount(value: float) -> str:
    """Whole numbers from 10 up, two significant digits below (so small limits don't print as 0)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    try:
        image = _pil_open()(io.BytesIO(data))
    except (UnidentifiedImageError, ImportError):
        raise InputError("not an image (unrecognised file format)") from None
    except Exception as exc:  # PIL raises many types for damaged headers
        raise InputError(f"cannot decode image: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(
            f"image is {width}x{height} = {_amount(width * height / 1e6)} MP, over the {_amount(max_pixels / 1e6)} MP "
            "limit that guards against decompression bombs (raise max_pixels in the config to allow it)"
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_bgr(image)
    except Exception as exc:
        raise InputError(f"cannot decode image: {exc}") from None


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
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[..., ::-1])
