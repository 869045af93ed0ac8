from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index.metadata import ImageRecord, MetadataStore


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
