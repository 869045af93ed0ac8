"""The embeddings a build has computed so far, kept on disk so that a build that fails or is stopped loses none.

``INDEX_DIR/.build/embeddings.sqlite`` holds one row per gallery image a build has been through:

    done(path, content_hash, model, crop, embedding, reason, box_x0, box_y0, box_x1, box_y1, image_width, image_height)

keyed by the image (its recorded path and the SHA-256 of its bytes), the model (the checkpoint's SHA-256) and the
crop (``kind:tag``, ``model.faces.crop``): a row is only ever reused by a build of the same image with the same
model and the same crop, so another model or crop never gets stale vectors. ``embedding`` is the float32 vector,
or NULL with the ``reason`` when the image was skipped (a photo without a face), so a resumed build does not run
the detector on it again. The build commits the rows of every batch as soon as it is embedded, and removes the
file once the new version is published (the version then holds the same embeddings).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from index.metadata import FaceBox

log = logging.getLogger("doppelganger")

FOLDER = ".build"
FILE = "embeddings.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS done (
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    crop TEXT NOT NULL,
    embedding BLOB,
    reason TEXT,
    box_x0 REAL, box_y0 REAL, box_x1 REAL, box_y1 REAL, image_width INTEGER, image_height INTEGER,
    PRIMARY KEY (path, content_hash, model, crop)
);
"""


@dataclass(frozen=True)
class Done:
    """One image a build has been through: its embedding and face box, or why it was skipped."""

    embedding: np.ndarray | None
    reason: str | None = None
    face: FaceBox | None = None


def journal_path(index_dir: Path) -> Path:
    return Path(index_dir) / FOLDER / FILE


def checkpointed(index_dir: Path) -> int:
    """How many images the checkpoint of ``index_dir`` holds (0 when there is none, or it cannot be read)."""
    path = journal_path(index_dir)
    if not path.is_file():
        return 0
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(connection.execute("SELECT COUNT(*) FROM done").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return 0


class EmbeddingJournal:
    """The checkpoint of one index folder's builds (``journal_path``); created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = self._open()
        except sqlite3.DatabaseError as error:  # a damaged file: start again rather than fail the build
            log.warning("the build checkpoint %s is damaged (%s): starting a new one", self.path, error)
            self.path.unlink(missing_ok=True)
            self._connection = self._open()

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            connection.execute("SELECT COUNT(*) FROM done").fetchone()
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def lookup(self, images: Iterable[tuple[str, str]], model: str, crop: str) -> dict[str, Done]:
        """``{path: Done}`` of the ``(path, content_hash)`` images done with this model and crop."""
        wanted = {path: content for path, content in images}
        found: dict[str, Done] = {}
        rows = self._connection.execute(
            "SELECT path, content_hash, embedding, reason, box_x0, box_y0, box_x1, box_y1, image_width, image_height "
            "FROM done WHERE model = ? AND crop = ?", (model, crop),
        )
        for path, content, blob, reason, *box in rows:
            if wanted.get(path) != content:
                continue
            vector = None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()
            found[path] = Done(vector, reason, None if box[0] is None else FaceBox(*box))
        return found

    def add(self, model: str, crop: str, done: dict[tuple[str, str], Done]) -> None:
        """Record ``{(path, content_hash): Done}`` and commit: what a stopped build keeps."""
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO done VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (path, content, model, crop,
                     None if d.embedding is None else np.ascontiguousarray(d.embedding, dtype=np.float32).tobytes(),
                     d.reason, *(d.face.as_row() if d.face is not None else (None,) * 6))
                    for (path, content), d in done.items()
                ),
            )

    def __len__(self) -> int:
        return self._connection.execute("SELECT COUNT(*) FROM done").fetchone()[0]

    def close(self) -> None:
        self._connection.close()

    def remove(self) -> None:
        """Close and delete the checkpoint (the build it served is published)."""
        self.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass
