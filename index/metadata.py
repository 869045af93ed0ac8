"""The metadata store beside the vectors: one SQLite row per gallery image.

``images(id, person, path, content_hash, model, embedding)``: ``id`` is the id the FAISS index returns, ``model``
the hash of the checkpoint that embedded the image, and ``embedding`` its float32 vector, so a rebuild can keep
the embeddings of unchanged images and a new index type can be built without embedding anything again.

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
    embedding BLOB NOT NULL
);
CREATE INDEX images_person ON images (person);
"""


@dataclass(frozen=True)
class ImageRecord:
    """One gallery image as the index knows it."""

    id: int
    person: str
    path: str
    content_hash: str
    model: str


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
                    "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        (r.id, r.person, r.path, r.content_hash, r.model, vector.tobytes())
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
            rows = self._connection.execute("SELECT id, person, path, content_hash, model FROM images ORDER BY id")
            return [ImageRecord(*row) for row in rows]

    def get(self, ids: Iterable[int]) -> dict[int, ImageRecord]:
        """The images with these ids (unknown ids are left out)."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._connection.execute(
                f"SELECT id, person, path, content_hash, model FROM images WHERE id IN ({marks})", ids
            )
            return {row[0]: ImageRecord(*row) for row in rows}

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
