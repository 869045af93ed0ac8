from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index.metadata import FaceBox, ImageRecord, MetadataStore


def _records(n: int) -> list[ImageRecord]:
    return [ImageRecord(10 + i, f"P{i % 2}", f"P{i % 2}/img{i}.jpg", f"hash{i}", "model-a") for i in range(n)]


def test_write_then_read_back_every_field(tmp_path: Path) -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    MetadataStore.write(tmp_path / "m.sqlite", _records(3), vectors)
    store = MetadataStore(tmp_path / "m.sqlite")
    assert len(store) == 3
    assert store.records() == _records(3)
    ids, got = store.embeddings()
    assert ids.tolist() == [10, 11, 12]
    np.testing.assert_array_equal(got, vectors)
    assert store.get([12, 10, 99]) == {10: _records(3)[0], 12: _records(3)[2]}
    assert store.people() == [("P0", 2), ("P1", 1)]


def test_a_published_store_is_read_only(tmp_path: Path) -> None:
    MetadataStore.write(tmp_path / "m.sqlite", _records(1), np.zeros((1, 2), np.float32))
    store = MetadataStore(tmp_path / "m.sqlite")
    with pytest.raises(sqlite3.OperationalError):
        store._connection.execute("DELETE FROM images")


def test_mismatched_lengths_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 records but 1 embeddings"):
        MetadataStore.write(tmp_path / "m.sqlite", _records(2), np.zeros((1, 2), np.float32))
    with pytest.raises(FileNotFoundError):
        MetadataStore(tmp_path / "absent.sqlite")


def test_face_boxes_are_stored_and_old_stores_still_read(tmp_path: Path) -> None:
    face = FaceBox.of((1.5, 2.5, 30.0, 40.0), (64, 48))
    records = [ImageRecord(0, "A", "A/1.jpg", "h0", "m", face), ImageRecord(1, "B", "B/1.jpg", "h1", "m")]
    MetadataStore.write(tmp_path / "new.sqlite", records, np.zeros((2, 4), np.float32))
    store = MetadataStore(tmp_path / "new.sqlite")
    assert store.records() == records and store.get([0])[0].face == face
    store.close()

    old = sqlite3.connect(tmp_path / "old.sqlite")  # the schema before face boxes were recorded
    old.executescript("CREATE TABLE images (id INTEGER PRIMARY KEY, person TEXT NOT NULL, path TEXT NOT NULL UNIQUE, "
                      "content_hash TEXT NOT NULL, model TEXT NOT NULL, embedding BLOB NOT NULL);")
    old.execute("INSERT INTO images VALUES (7, 'A', 'A/1.jpg', 'h', 'm', ?)", (np.zeros(4, np.float32).tobytes(),))
    old.commit()
    old.close()
    store = MetadataStore(tmp_path / "old.sqlite")
    assert store.records() == [ImageRecord(7, "A", "A/1.jpg", "h", "m")] and store.get([7])[7].face is None
    store.close()
