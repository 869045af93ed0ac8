"""What the routes may know of the index, without touching its files: the live version on disk, its people, a
gallery image by id, and the admin status.

The live manifest is read here and nowhere else in ``app`` (the dashboards and rebuilds call ``live_manifest``).
The served index is the one loaded in the ``MatchService``; the live version on disk can be newer (published by
another process and not yet followed) or the only one there is (nothing loaded yet).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from app.services.gallery_admin import added_people, read_excluded
from app.services.matching import MatchService
from app.settings import AppSettings
from index.manifest import Manifest
from index.metadata import MetadataStore
from index.metadata import FaceBox, ImageRecord
from index.storage import MANIFEST, METADATA, IndexDir
from index.thumbnails import face_thumbnail_jpeg

MAX_IMAGE_ID_DIGITS = 18
"""Longer ids are refused before they reach SQLite (its integers are 64-bit)."""
FACE_CACHE = 2048
"""Card faces kept in memory (about 8 KiB each): the ones of the latest matches are served without decoding."""


class GalleryImageNotFoundError(LookupError):
    """No gallery image to serve for this id; the message says why and what to do (a 404)."""


def live_manifest(index_dir: Path) -> Manifest | None:
    """The manifest of the version ``CURRENT`` names, or None when nothing was published or it cannot be read."""
    folder = IndexDir(index_dir).current()
    if folder is None:
        return None
    try:
        return Manifest.read(folder / MANIFEST)
    except (OSError, ValueError):
        return None


def live_people(service: MatchService, index_dir: Path) -> list[tuple[str, int]]:
    """Each person of the served index and their image count (of the live version on disk when none is loaded)."""
    if service.ready:
        return service.matcher.index.metadata.people()
    folder = IndexDir(index_dir).current()
    if folder is None:
        return []
    store = MetadataStore(folder / METADATA)
    try:
        return store.people()
    finally:
        store.close()


def gallery_image_file(service: MatchService, image_id: str) -> Path:
    """The file of the served gallery image ``image_id`` (as a match gives it). Only an id the index knows names a
    file, so no path from a request ever reaches the disk. ``GalleryImageNotFoundError`` otherwise;
    ``IndexNotReadyError`` when no index is loaded."""
    return _gallery_image(service, image_id)[1]


def gallery_face_jpeg(service: MatchService, image_id: str) -> bytes:
    """The square face of the served gallery image ``image_id`` as a JPEG (``index.thumbnails``): cut from the
    original image around the face box the build recorded, or its centre; nothing is detected. Kept in memory
    (``FACE_CACHE`` of them) until the file changes. ``GalleryImageNotFoundError`` as ``gallery_image_file``, or
    when the file no longer decodes."""
    record, path = _gallery_image(service, image_id)
    try:
        stat = path.stat()
        return _face_jpeg(str(path), stat.st_mtime_ns, stat.st_size, record.face)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise GalleryImageNotFoundError(
            f"gallery image {image_id} ({record.path}) cannot be read ({type(error).__name__}): rebuild the index"
        ) from error


@lru_cache(maxsize=FACE_CACHE)
def _face_jpeg(path: str, mtime_ns: int, size: int, face: FaceBox | None) -> bytes:
    return face_thumbnail_jpeg(Path(path), face)


def _gallery_image(service: MatchService, image_id: str) -> tuple[ImageRecord, Path]:
    index = service.matcher.index
    record = None
    if image_id.isascii() and image_id.isdigit() and len(image_id) <= MAX_IMAGE_ID_DIGITS:
        record = index.metadata.get([int(image_id)]).get(int(image_id))
    if record is None:
        raise GalleryImageNotFoundError(f"no gallery image has id {image_id[:40]!r}: use an image_id from a /match answer")
    try:
        path = index.image_file(record.path)
    except ValueError as error:
        raise GalleryImageNotFoundError(f"gallery image {image_id} is not in the gallery folder") from error
    if not path.is_file():
        raise GalleryImageNotFoundError(f"gallery image {image_id} ({record.path}) is no longer on disk: rebuild the index")
    return record, path


def index_status(settings: AppSettings, service: MatchService, rebuild: dict[str, Any] | None) -> dict[str, Any]:
    """The admin page's status: the served index (else the live one on disk), the gallery changes, and
    ``rebuild``, the job in progress (None when idle)."""
    health = service.health()
    manifest = live_manifest(settings.index_dir)
    served = service.matcher.index.manifest if service.ready else None
    shown = served or manifest
    return {
        "status": health["status"],
        "reason": health.get("reason"),
        "index_dir": str(settings.index_dir),
        "index": None if shown is None else {
            "version": shown.version, "images": shown.count,
            "people": health["index"]["people"] if served else None,
            "model_run": shown.model_run, "model_hash": shown.model_hash, "factory": shown.factory,
            "built_at": shown.built_at, "build_seconds": shown.build_seconds, "stats": shown.stats,
            "galleries": shown.galleries, "dim": shown.dim,
        },
        "live_version_on_disk": manifest.version if manifest else None,
        "added_people": added_people(settings.gallery_added_dir),
        "excluded_people": read_excluded(settings.index_dir),
        "rebuild": rebuild,
    }
