"""Decoding an uploaded photo into a clean 8-bit RGB image, safely.

Phones and cameras write JPEG, PNG or WebP, often with an EXIF orientation tag instead of rotated pixels, in
grayscale, with transparency, in CMYK or with 16 bits per channel. ``load_image`` turns all of them into the one
form the detector expects: upright RGB, 8 bits per channel, without metadata (EXIF may hold GPS positions).

Size limits are enforced from the header, before any pixel is decoded (``Image.open`` is lazy), so a small file
that claims to be 50,000 x 50,000 pixels never allocates its 7.5 GB.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 40_000_000
MAX_BYTES = 20 * 2**20
_ACCEPTED = "a JPEG, PNG or WebP image"
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
"""Single-channel modes wider than 8 bits (16-bit grayscale PNG decodes to one of them), holding 0..65535."""


class ImageDecodeError(ValueError):
    """The input is not a photo we can read; the message says what was wrong and what to do."""


class ImageTooLargeError(ImageDecodeError):
    """The file has more bytes, or its header more pixels, than the limits allow."""


class UnsupportedImageError(ImageDecodeError):
    """The file is not a JPEG, PNG or WebP image (or not an image at all)."""


def load_image(source: bytes | str | Path, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> Image.Image:
    """``source`` (the file's bytes or its path) as an upright 8-bit RGB image without metadata.

    Raises ``ImageDecodeError`` for empty, oversized, truncated or corrupt input and for other formats than
    JPEG, PNG and WebP. Nothing is written anywhere.
    """
    data = _read(source, max_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit applies below
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError as error:
            found = sniff_format(data)
            found = f"a {found} file, " if found else ""
            raise UnsupportedImageError(f"the file is {found}not {_ACCEPTED}: upload a photo in one of those formats") from error
        except Image.DecompressionBombError as error:
            raise ImageTooLargeError(_too_many_pixels(max_pixels)) from error
        except (OSError, SyntaxError, ValueError) as error:  # a header cut short or mangled
            raise ImageDecodeError(f"the file is truncated or corrupt ({error}): upload the complete photo again") from error
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(f"{_too_many_pixels(max_pixels)} (this one is {width} x {height})")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageDecodeError(
            f"the {image.format} file is truncated or corrupt ({error}): upload the complete photo again"
        ) from error
    rgb = _to_rgb(image)
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())  # a fresh image: no EXIF, ICC or other info


_SIGNATURES = (
    (4, (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypmsf1", b"ftypheim", b"ftypheis"), "HEIC/HEIF (export it as JPEG, e.g. iPhone Settings > Camera > Formats > Most Compatible)"),
    (4, (b"ftypavif",), "AVIF"),
    (0, (b"GIF87a", b"GIF89a"), "GIF"),
    (0, (b"BM",), "BMP"),
    (0, (b"II*\x00", b"MM\x00*"), "TIFF"),
    (0, (b"PK\x03\x04", b"PK\x05\x06"), "ZIP"),
    (0, (b"%PDF",), "PDF"),
    (0, (b"<svg", b"<?xml"), "SVG/XML"),
)


def sniff_format(data: bytes) -> str | None:
    """The name of a common file format that is not accepted, from its first bytes (for a helpful message)."""
    for offset, signatures, name in _SIGNATURES:
        if any(data[offset : offset + len(sig)] == sig for sig in signatures):
            return name
    return None


def _read(source: bytes | str | Path, max_bytes: int) -> bytes:
    if isinstance(source, (str, Path)):
        path = Path(source)
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageTooLargeError(_too_many_bytes(size, max_bytes))
        source = path.read_bytes()
    if not source:
        raise ImageDecodeError(f"the file is empty: upload {_ACCEPTED}")
    if len(source) > max_bytes:
        raise ImageTooLargeError(_too_many_bytes(len(source), max_bytes))
    return bytes(source)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any decoded mode as RGB: wide grayscale scaled to 8 bits, transparency composited on white."""
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _too_many_pixels(max_pixels: int) -> str:
    return f"the photo has more than {max_pixels / 1e6:g} megapixels: upload a smaller version of it"


def _too_many_bytes(size: int, max_bytes: int) -> str:
    return f"the file is {human_size(size)}, more than {human_size(max_bytes)}: upload a smaller version of it"


def human_size(n: int) -> str:
    """A byte count as people read it: ``"195 KiB"``, ``"2.4 MiB"``, ``"20.01 MiB"``, ``"1.5 GiB"``."""
    if n < 2**20:
        return f"{n / 2**10:.0f} KiB"
    if n < 2**30:
        return f"{n / 2**20:.4g} MiB"
    return f"{n / 2**30:.4g} GiB"
