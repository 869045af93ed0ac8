"""The square face of a gallery image, as a look-alike card shows it: cut from the ORIGINAL image, never from the
model's aligned input (which is rotated, with black corners where the warp leaves the photo).

The square is centred on the face box the build recorded (``index.metadata.FaceBox``: the detector's box in a
whole photo), ``MARGIN`` times its longer side, shifted to lie inside the image and shrunk to the image's shorter
side if it must: every pixel of it comes from the image. A face frame (LFW's 250x250 images) has no box: its
face is at the centre, so the square is the central ``CENTRE_FRACTION`` of its shorter side (150x150 of 250x250),
and so is any image of an index built before the box was recorded.

A JPEG is decoded at the smallest scale that still gives the square at ``size`` pixels (``Image.draft``), so a
card of a 12-megapixel photo costs a few milliseconds; nothing is detected when the card is served.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageOps

from index.metadata import FaceBox

SIZE = 160
"""Side of a card's face, in pixels."""
MARGIN = 1.4
"""The square's side over the face box's longer side: a little hair, chin and cheeks around the face."""
CENTRE_FRACTION = 0.6
"""The square of a face frame, as a fraction of its shorter side: LFW's faces fill the central 150x150 pixels."""
QUALITY = 90
_TRANSPOSED = (5, 6, 7, 8)
"""EXIF orientations that swap width and height."""


def face_square(face: FaceBox | None, width: int, height: int) -> tuple[float, float, float]:
    """``(left, top, side)`` of the square to show, inside a ``width`` x ``height`` upright image."""
    shorter = min(width, height)
    if face is None or face.width <= 0 or face.height <= 0:
        side = CENTRE_FRACTION * shorter
        return (width - side) / 2, (height - side) / 2, side
    sx, sy = width / face.width, height / face.height  # the image may be another size than the one detected on
    x0, x1 = sorted((face.x0 * sx, face.x1 * sx))
    y0, y1 = sorted((face.y0 * sy, face.y1 * sy))
    side = min(max(MARGIN * max(x1 - x0, y1 - y0), 1.0), shorter)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(cx - side / 2, 0.0), width - side)
    top = min(max(cy - side / 2, 0.0), height - side)
    return left, top, side


def _upright_size(image: Image.Image) -> tuple[int, int]:
    try:
        orientation = image.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):
        orientation = 1
    width, height = image.size
    return (height, width) if orientation in _TRANSPOSED else (width, height)


def face_thumbnail(file: Path, face: FaceBox | None, size: int = SIZE) -> Image.Image:
    """The ``size`` x ``size`` RGB square of the face in the image ``file``; ``OSError``/``ValueError`` when it
    does not decode."""
    with Image.open(file) as image:
        width, height = _upright_size(image)
        left, top, side = face_square(face, width, height)
        scale = min(1.0, size / side)  # the largest reduction that keeps the square at least ``size`` wide
        image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        upright = ImageOps.exif_transpose(image)
        reduced = upright.width / width
        box = (left * reduced, top * reduced, (left + side) * reduced, (top + side) * reduced)
        return upright.convert("RGB").resize((size, size), Image.Resampling.LANCZOS, box=box)


def face_thumbnail_jpeg(file: Path, face: FaceBox | None, size: int = SIZE) -> bytes:
    """``face_thumbnail`` as JPEG bytes."""
    buffer = io.BytesIO()
    face_thumbnail(file, face, size).save(buffer, format="JPEG", quality=QUALITY)
    return buffer.getvalue()
