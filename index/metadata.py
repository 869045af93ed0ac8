"""The metadata store beside the vectors: one SQLite row per gallery image.

``images(id, person, path, content_hash, model, embedding, box_x0, box_y0, box_x1, box_y1, image_width,
image_height)``: ``id`` is the id the FAISS index returns, ``model`` the hash of the checkpoint that embedded the
image, and ``embedding`` its float32 vector, so a rebuild can keep the embeddings of unchanged images and a new
index type can be built without embedding anything again. The box is where the face is in the upright image
(``FaceBox``), from which the app cuts the square face of a look-alike card (``index.thumbnails``); it is NULL
for LFW-style frames, whose face is at the centre, and absent from stores written before it was recorded.

A published index version is never modified, so readers open it read-only and immutable; every call takes a
lock, so one store serves the threads of a web server.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

_SCHEMA = """
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    embedding BLOB NOT NULL,
    box_x0 REAL,
    box_y0 REAL,
    box_x1 REAL,
    box_y1 REAL,
    image_width INTEGER,
    image_height INTEGER
);
CREATE INDEX images_person ON images (person);
"""


@dataclass(frozen=True)
class FaceBox:
    """Where the indexed face is: its detector box ``(x0, y0, x1, y1)`` in the pixels of the upright image (EXIF
    orientation applied) of ``width`` x ``height``."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: int
    height: int

    @classmethod
    def of(cls, box: tuple[float, float, float, float], size: tuple[int, int]) -> "FaceBox":
        return cls(*(float(v) for v in box), int(size[0]), int(size[1]))

    def as_row(self) -> tuple[float, float, float, float, int, int]:
        return (self.x0, self.y0, self.x1, self.y1, self.width, self.height)


def _face(row: tuple) -> FaceBox | None:
    return None if row[0] is None else FaceBox(*row)


@dataclass(frozen=True)
class ImageRecord:
    """One gallery image as the index knows it."""

    id: int
    person: str
    path: str
    content_hash: str
    model: str
    face: FaceBox | None = None
    """The face's box in a whole photo; None for a face frame (the face is at its centre)."""

    @classmethod
    def from_row(cls, row: tuple) -> "ImageRecord":
        """A row of ``_COLUMNS``."""
        return cls(*row[:5], face=_face(row[5:]))


_COLUMNS = "id, person, path, content_hash, model, box_x0, box_y0, box_x1, box_y1, image_width, image_height"
_OLD_COLUMNS = "id, person, path, content_hash, model, NULL, NULL, NULL, NULL, NULL, NULL"
"""The same, from a store written before the face box was recorded."""


class MetadataStore:
    """Read access to ``metadata.sqlite``; ``write`` creates a new one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist")
        self._connection = sqlite3.connect(
            f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        try:
            names = {row[1] for row in self._connection.execute("PRAGMA table_info(images)")}
        except sqlite3.DatabaseError:
            self._connection.close()
            raise
        self._columns = _COLUMNS if "box_x0" in names else _OLD_COLUMNS

    @staticmethod
    def write(path: Path, records: Iterable[ImageRecord], embeddings: np.ndarray) -> None:
        """A new store at ``path`` holding ``records`` and their ``embeddings`` (row i is record i's)."""
        records = list(records)
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if len(records) != len(embeddings):
            raise ValueError(f"{len(records)} records but {len(embeddings)} embeddings")
        connection = sqlite3.connect(path)
        try:
            with connection:
                connection.executescript(_SCHEMA)
                connection.executemany(
                    "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        (r.id, r.person, r.path, r.content_hash, r.model, vector.tobytes(),
                         *(r.face.as_row() if r.face is not None else (None,) * 6))
                        for r, vector in zip(records, embeddings)
                    ),
                )
        finally:
            connection.close()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def records(self) -> list[ImageRecord]:
        """Every image, by id."""
        with self._lock:
            rows = self._connection.execute(f"SELECT {self._columns} FROM images ORDER BY id")
            return [ImageRecord.from_row(row) for row in rows]

    def get(self, ids: Iterable[int]) -> dict[int, ImageRecord]:
        """The images with these ids (unknown ids are left out)."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {self._columns} FROM images WHERE id IN ({marks})", ids
            )
            return {row[0]: ImageRecord.from_row(row) for row in rows}

    def embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of every image, by id: the int64 ids and the float32 (N, D) matrix."""
        with self._lock:
            rows = self._connection.execute("SELECT id, embedding FROM images ORDER BY id").fetchall()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([np.frombuffer(row[1], dtype=np.float32) for row in rows])

    def people(self) -> list[tuple[str, int]]:
        """Each person and their number of images, by name."""
        with self._lock:
            return list(self._connection.execute("SELECT person, COUNT(*) FROM images GROUP BY person ORDER BY person"))
