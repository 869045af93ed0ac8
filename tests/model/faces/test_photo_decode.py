"""``load_image``: every photo format a phone makes becomes upright 8-bit RGB without metadata; anything else,
and anything too large, is refused with a message that says what to do."""

from __future__ import annotations

import io
import resource
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from model.faces.photo_decode import ImageDecodeError, ImageTooLargeError, UnsupportedImageError, load_image


def _encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` RGB pixels but holds a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_exif_orientation_is_applied_and_metadata_dropped() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    exif[0x010F] = "PhoneMaker"
    out = load_image(_encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.mode == "RGB" and out.size == (20, 40)
    pixels = np.asarray(out).astype(int)
    assert pixels[5, 10, 0] > 200 and pixels[5, 10, 2] < 60  # the red left half is now on top
    assert pixels[35, 10, 2] > 200 and pixels[35, 10, 0] < 60
    assert out.info == {} and len(out.getexif()) == 0


@pytest.mark.parametrize(
    ("image", "format", "expected"),
    [
        (Image.new("L", (8, 8), 90), "PNG", (90, 90, 90)),
        (Image.new("LA", (8, 8), (90, 0)), "PNG", (255, 255, 255)),
        (Image.new("RGBA", (8, 8), (10, 20, 30, 0)), "PNG", (255, 255, 255)),
        (Image.new("RGBA", (8, 8), (10, 20, 30, 255)), "PNG", (10, 20, 30)),
        (Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
        (Image.new("RGB", (8, 8), (200, 100, 50)), "WEBP", (200, 100, 50)),
    ],
    ids=["gray", "gray-alpha", "transparent", "opaque-rgba", "cmyk-jpeg", "webp"],
)
def test_modes_become_rgb(image: Image.Image, format: str, expected: tuple[int, int, int]) -> None:
    options = {"lossless": True} if format == "WEBP" else {"quality": 100} if format == "JPEG" else {}
    out = load_image(_encode(image, format, **options))
    assert out.mode == "RGB" and out.size == (8, 8)
    np.testing.assert_allclose(np.asarray(out)[4, 4], expected, atol=3)


def test_palette_transparency_is_composited_on_white() -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    out = load_image(_encode(image, "PNG", transparency=1))
    assert tuple(np.asarray(out)[0, 0]) == (255, 255, 255)


def test_16_bit_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257 * 128, 65535, 1000]], dtype=np.uint16)
    out = load_image(_encode(Image.fromarray(values), "PNG"))
    assert np.asarray(out)[0, :, 0].tolist() == [0, 128, 255, 4]


def test_path_is_read(tmp_path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (5, 7), (1, 2, 3)).save(path)
    assert load_image(path).size == (5, 7) and load_image(str(path)).size == (5, 7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (np.random.default_rng(0).bytes(5000), "not a JPEG, PNG or WebP"),
        (_encode(Image.new("RGB", (8, 8)), "GIF"), "not a JPEG, PNG or WebP"),
        (b"%PDF-1.4 not a photo", "not a JPEG, PNG or WebP"),
    ],
    ids=["empty", "random", "gif", "pdf"],
)
def test_non_images_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        load_image(data)


def test_truncated_jpeg_is_refused() -> None:
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), "JPEG", quality=90)
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize("side", [50_000, 7_000], ids=["over-pillow-limit", "over-our-limit"])
def test_huge_header_is_refused_before_decoding(side: int) -> None:
    data = _png_header(side, side)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ImageDecodeError, match="megapixels"):
        load_image(data)
    assert time.perf_counter() - start < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 50_000  # KiB: nothing near 147 MB allocated


def test_pixel_limit_is_a_parameter() -> None:
    with pytest.raises(ImageDecodeError, match="100 x 100"):
        load_image(_encode(Image.new("RGB", (100, 100)), "PNG"), max_pixels=5_000)


def test_too_many_bytes_are_refused(tmp_path) -> None:
    data = _encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(ImageDecodeError, match="MiB|KiB"):
        load_image(data, max_bytes=len(data) - 1)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageDecodeError, match="MiB|KiB"):
        load_image(path, max_bytes=len(data) - 1)


def test_the_error_kinds_tell_too_large_and_unsupported_from_corrupt() -> None:
    with pytest.raises(ImageTooLargeError):
        load_image(_png_header(50_000, 50_000))
    with pytest.raises(ImageTooLargeError):
        load_image(b"x" * 100, max_bytes=10)
    with pytest.raises(UnsupportedImageError):
        load_image(_encode(Image.new("RGB", (8, 8)), "GIF"))
    with pytest.raises(ImageDecodeError) as corrupt:
        load_image(_encode(Image.new("RGB", (64, 64)), "JPEG")[:300])
    assert not isinstance(corrupt.value, (ImageTooLargeError, UnsupportedImageError))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_any_truncation_or_byte_flip_is_a_decode_error_or_an_image(fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), fmt)
    rng = np.random.default_rng(2)
    variants = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 60))]
    for _ in range(60):
        flipped = bytearray(data)
        flipped[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        variants.append(bytes(flipped))
    for variant in variants:
        try:
            assert load_image(variant).mode == "RGB"
        except ImageDecodeError:
            pass
