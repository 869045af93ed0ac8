"""A gallery: the people whose look-alikes the index finds, as image files in one folder per person.

``ROOT/<Person>/<image>.jpg`` (JPEG, PNG or WebP) in one of two kinds:

- ``aligned``: LFW-style 250x250 face frames, such as LFW's own ``lfw-deepfunneled/``: embedded as they are.
- ``photos``: whole photos (a user's own folder of people): each goes through face detection and the LFW crop
  first; a photo with no face is reported and left out.

``auto`` tells them apart by the image sizes: a folder whose images are all 250x250 is ``aligned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from model.hashing import file_sha256

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
GALLERY_KINDS = ("auto", "aligned", "photos")
ALIGNED_SIZE = (250, 250)
_AUTO_SAMPLE = 50


@dataclass(frozen=True)
class GalleryImage:
    """One image file of the gallery: whose it is, where (relative to the root, with ``/``), and its content."""

    person: str
    path: str
    content_hash: str


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: an image whose bytes did not change keeps its embedding across rebuilds."""
    return file_sha256(path)


def list_images(root: Path) -> list[tuple[str, str]]:
    """``(person, relative path)`` of every image under ``root/<person>/``, sorted; hidden files skipped."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"gallery folder {root} does not exist: give a folder with one subfolder per person")
    found = []
    for person_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(person_dir.iterdir()):
            if file.is_file() and not file.name.startswith(".") and file.suffix.lower() in IMAGE_SUFFIXES:
                found.append((person_dir.name, f"{person_dir.name}/{file.name}"))
    if not found:
        raise ValueError(
            f"gallery folder {root} holds no images: put each person's photos in their own subfolder, "
            f"ROOT/<Person>/*.jpg (JPEG, PNG or WebP)"
        )
    return found


def scan_gallery(root: Path) -> list[GalleryImage]:
    """Every image of the gallery with its content hash."""
    root = Path(root)
    return [GalleryImage(person, path, content_hash(root / path)) for person, path in list_images(root)]


def detect_kind(root: Path, images: list[GalleryImage]) -> str:
    """``aligned`` when every image (of an evenly spread sample) is a 250x250 frame, else ``photos``."""
    step = max(1, len(images) // _AUTO_SAMPLE)
    for image in images[::step]:
        with Image.open(Path(root) / image.path) as opened:
            if opened.size != ALIGNED_SIZE:
                return "photos"
    return "aligned"
