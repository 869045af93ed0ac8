"""An index folder on disk: immutable versions, and a pointer to the live one replaced atomically.

::

    INDEX_DIR/CURRENT                    the name of the live version (one line)
    INDEX_DIR/versions/<name>/           manifest.json, index.faiss, metadata.sqlite
    INDEX_DIR/versions/.staging-<name>/  a version being written (never read)

Publishing writes the new version aside in a staging folder, renames it into ``versions/``, then replaces
``CURRENT`` with ``os.replace`` (atomic on POSIX). A crash or an error at any step leaves ``CURRENT`` naming the
previous, whole version, so a running service keeps serving it. The live version and the one before it are
kept; older ones and abandoned staging folders are removed by the next publish.
"""

from __future__ import annotations

import logging
import os
import time
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.manifest import Manifest
from model.hashing import file_sha256
from index.metadata import ImageRecord, MetadataStore
from index.vector_index import build_vector_index, load_vector_index, save_vector_index, search

MANIFEST = "manifest.json"
VECTORS = "index.faiss"
METADATA = "metadata.sqlite"
KEEP_VERSIONS = 2
STALE_SECONDS = 3600
"""A staging folder or pointer file older than this was left by a crashed publish; younger ones may belong to a
publish in progress in another process (a replica), and are left alone."""

log = logging.getLogger("doppelganger")


class IndexMissingError(FileNotFoundError):
    """No index has been published in the folder yet."""


class ModelMismatchError(ValueError):
    """The index was built by another model than the one asked to search it."""


class IndexCorruptError(ValueError):
    """A file of the live version is damaged (truncated, overwritten, unreadable); the message says how to rebuild."""


def _rebuild_hint(folder: Path) -> str:
    index_dir = folder.parent.parent
    return (
        f"rebuild it with `doppelganger index build --full --out {index_dir}` (or from /admin); the previous version, "
        f"if any, is still in {folder.parent} and can be made live by writing its name into {index_dir / 'CURRENT'}"
    )


@dataclass(frozen=True)
class Match:
    """One gallery image found for a query."""

    image_id: int
    person: str
    path: str
    cosine: float

    @property
    def distance(self) -> float:
        """Euclidean distance between the unit embeddings, in [0, 2]."""
        return float(np.sqrt(max(0.0, 2.0 - 2.0 * self.cosine)))


def _mtime_or_inf(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


class IndexDir:
    """The versions of one index folder."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.versions = self.path / "versions"
        self.pointer = self.path / "CURRENT"

    def current(self) -> Path | None:
        """The live version's folder, or None when nothing was published yet."""
        if not self.pointer.exists():
            return None
        name = self.pointer.read_text().strip()
        folder = self.versions / name
        return folder if name and (folder / MANIFEST).exists() else None

    def publish(self, manifest: Manifest, records: list[ImageRecord], embeddings: np.ndarray) -> Path:
        """Write a new version (vectors, metadata, manifest) and make it the live one, atomically."""
        stamp = datetime.now(timezone.utc)
        name = f"{stamp:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}"  # sorts by time, to the microsecond
        self.versions.mkdir(parents=True, exist_ok=True)
        staging = self.versions / f".staging-{name}"
        staging.mkdir()
        try:
            ids = np.fromiter((r.id for r in records), dtype=np.int64, count=len(records))
            vectors = build_vector_index(embeddings, ids, manifest.factory)
            save_vector_index(vectors, staging / VECTORS)
            MetadataStore.write(staging / METADATA, records, embeddings)
            manifest.checksums = {file: file_sha256(staging / file) for file in (VECTORS, METADATA)}
            manifest.version = name
            manifest.built_at = stamp.isoformat(timespec="seconds")
            manifest.count = len(records)
            manifest.write(staging / MANIFEST)
            for file in (VECTORS, METADATA, MANIFEST):
                _fsync_file(staging / file)
            final = self.versions / name
            os.rename(staging, final)
            _fsync_dir(self.versions)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        pointer_tmp = self.path / f".CURRENT.{name}"
        pointer_tmp.write_text(name + "\n")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.pointer)
        _fsync_dir(self.path)
        self._prune(keep=name)
        return final

    def _prune(self, keep: str) -> None:
        """Remove abandoned staging folders and all but the newest ``KEEP_VERSIONS`` versions (the live one stays)."""
        stale = time.time() - STALE_SECONDS
        for leftover in self.versions.glob(".staging-*"):
            if _mtime_or_inf(leftover) < stale:
                shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.path.glob(".CURRENT.*"):
            if _mtime_or_inf(leftover) < stale:
                leftover.unlink(missing_ok=True)
        names = sorted(p.name for p in self.versions.iterdir() if p.is_dir() and not p.name.startswith("."))
        for old in [n for n in names if n != keep][: max(0, len(names) - KEEP_VERSIONS)]:
            shutil.rmtree(self.versions / old, ignore_errors=True)


def verify_version(folder: Path) -> Manifest:
    """The manifest of an index version whose files are whole: ``IndexCorruptError`` when the manifest is not
    readable, a file is missing, or a file's SHA-256 differs from the one the manifest recorded at publish."""
    folder = Path(folder)
    try:
        manifest = Manifest.read(folder / MANIFEST)
        if not isinstance(manifest.checksums, dict):
            raise TypeError("its checksums are not a table")
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:  # JSON, format, shape
        raise IndexCorruptError(f"the manifest of the index version {folder} is damaged or of another format ({error}): {_rebuild_hint(folder)}") from error
    if not manifest.checksums:
        log.warning("the index version %s has no checksums (built before they were recorded): its files are not "
                    "verified; the next `doppelganger index build` adds them", folder)
    for file in (VECTORS, METADATA):
        if not (folder / file).is_file():
            raise IndexCorruptError(f"the index version {folder} has lost its {file}: {_rebuild_hint(folder)}")
        expected = manifest.checksums.get(file)
        if expected is not None and file_sha256(folder / file) != expected:
            size = (folder / file).stat().st_size
            raise IndexCorruptError(
                f"the index version {folder} is damaged: {file} ({size} bytes) is not the file that was published "
                f"(its SHA-256 differs; truncated or overwritten): {_rebuild_hint(folder)}"
            )
    return manifest


class GalleryIndex:
    """A loaded index version: the FAISS index, its metadata and manifest, searchable from many threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.manifest = verify_version(self.folder)
        try:
            self.vectors = load_vector_index(self.folder / VECTORS)
            self.metadata = MetadataStore(self.folder / METADATA)
            len(self.metadata)
        except (RuntimeError, sqlite3.DatabaseError) as error:
            raise IndexCorruptError(f"the index version {self.folder} cannot be read ({error}): {_rebuild_hint(self.folder)}") from error
        if self.vectors.ntotal != self.manifest.count:
            raise IndexCorruptError(
                f"the index version {self.folder} is inconsistent: its vectors hold {self.vectors.ntotal} images, its "
                f"manifest says {self.manifest.count}: {_rebuild_hint(self.folder)}"
            )

    @classmethod
    def load(cls, index_dir: Path | str, model_hash: str | None = None) -> "GalleryIndex":
        """The live version of ``index_dir``; with ``model_hash``, refused unless that model built it."""
        folder = IndexDir(index_dir).current()
        if folder is None:
            raise IndexMissingError(
                f"no index in {index_dir}: build one with `doppelganger index build --out {index_dir}`"
            )
        loaded = cls(folder)
        if model_hash is not None:
            try:
                loaded.require_model(model_hash)
            except ModelMismatchError:
                loaded.close()
                raise
        return loaded

    def require_model(self, model_hash: str) -> None:
        """``ModelMismatchError`` unless the checkpoint of SHA-256 ``model_hash`` built this index."""
        if self.manifest.model_hash != model_hash:
            raise ModelMismatchError(
                f"the index in {self.folder.parent.parent} was built by model {self.manifest.model_hash[:12]} "
                f"({self.manifest.model_run}), not by model {model_hash[:12]}: rebuild it with "
                f"`doppelganger index build` and this model, or search it with the model that built it"
            )

    @property
    def version(self) -> str:
        return self.manifest.version

    def __len__(self) -> int:
        return int(self.vectors.ntotal)

    def image_file(self, path: str) -> Path:
        """The file of a gallery image, from its recorded path (the gallery it came from is the longest prefix).
        ``ValueError`` for a path that would lead outside its gallery folder (``..``, a link elsewhere)."""
        source = max((g for g in self.manifest.galleries if path.startswith(g["prefix"])), key=lambda g: len(g["prefix"]))
        root = Path(source["root"])
        file = root / path[len(source["prefix"]):]
        if not file.resolve().is_relative_to(root.resolve()):
            raise ValueError(f"the gallery image path {path!r} leads outside its gallery {root}")
        return file

    def search(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        """The ``k`` best gallery images for each query embedding, best first."""
        cosines, ids = search(self.vectors, queries, k)
        records = self.metadata.get(i for i in ids.ravel() if i >= 0)
        return [
            [
                Match(int(i), records[int(i)].person, records[int(i)].path, float(c))
                for c, i in zip(row_cos, row_ids)
                if i >= 0
            ]
            for row_cos, row_ids in zip(cosines, ids)
        ]

    def close(self) -> None:
        self.metadata.close()
