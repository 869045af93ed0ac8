"""The real photos the benchmarks send: ../shared/photos scaled to a given size and encoded as JPEG in memory."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

PHOTOS_DIR = Path(__file__).resolve().parents[2] / "shared" / "photos"
"""Where the photos are by default (``../shared/photos`` beside the repository)."""


def scaled_jpeg(path: Path, megapixels: float, quality: int = 90) -> bytes:
    """The photo at ``path`` resized to about ``megapixels`` (aspect kept, Lanczos) as JPEG bytes."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
