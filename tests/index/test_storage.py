from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import index.storage as storage
from index.manifest import Manifest
from index.metadata import ImageRecord
from index.storage import GalleryIndex, IndexDir, IndexMissingError, ModelMismatchError


def _manifest(model_hash: str = "m" * 64, factory: str = "Flat") -> Manifest:
    return Manifest(
        model_hash=model_hash, model_run="runs/x", dim=8, image_size=32, count=0, factory=factory, galleries=[{"root": "g", "kind": "aligned", "prefix": ""}, {"root": "added", "kind": "photos", "prefix": "added/"}],
        built_at="", build_seconds=0.0,
        calibration={"slope": 10.0, "intercept": -4.0, "threshold": 0.4, "pairs": 600, "heldout": {}, "source": "test"},
    )


def _gallery(n: int, seed: int = 0) -> tuple[list[ImageRecord], np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    records = [ImageRecord(i, f"Person_{i % 3}", f"Person_{i % 3}/{i}.jpg", f"h{i}", "m" * 64) for i in range(n)]
    return records, x


def test_publish_then_load_and_search(tmp_path: Path) -> None:
    records, vectors = _gallery(30)
    IndexDir(tmp_path).publish(_manifest(), records, vectors)
    index = GalleryIndex.load(tmp_path, model_hash="m" * 64)
    assert len(index) == 30 and index.manifest.count == 30 and index.manifest.built_at
    [matches] = index.search(vectors[7:8], k=3)
    assert matches[0].image_id == 7 and matches[0].person == "Person_1"
    assert matches[0].cosine == pytest.approx(1.0, abs=1e-5) and matches[0].distance == pytest.approx(0.0, abs=1e-2)
    assert [m.cosine for m in matches] == sorted((m.cosine for m in matches), reverse=True)


def test_loading_with_another_model_is_refused(tmp_path: Path) -> None:
    IndexDir(tmp_path).publish(_manifest(), *_gallery(5))
    with pytest.raises(ModelMismatchError, match="rebuild it"):
        GalleryIndex.load(tmp_path, model_hash="x" * 64)


def test_an_empty_folder_says_how_to_build_an_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="doppelganger index build"):
        GalleryIndex.load(tmp_path)


def test_a_crash_mid_save_leaves_the_previous_version_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = IndexDir(tmp_path)
    first = store.publish(_manifest(), *_gallery(10))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage.MetadataStore, "write", crash)
    with pytest.raises(OSError, match="disk full"):
        store.publish(_manifest(), *_gallery(20, seed=1))
    assert store.current() == first
    assert not list(store.versions.glob(".staging-*"))
    assert len(GalleryIndex.load(tmp_path)) == 10


def test_a_crash_before_the_pointer_moves_keeps_the_old_version_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = IndexDir(tmp_path)
    first = store.publish(_manifest(), *_gallery(10))
    real_replace = storage.os.replace

    def crash_on_pointer(src, dst):
        if Path(dst).name == "CURRENT":
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", crash_on_pointer)
    with pytest.raises(OSError, match="power cut"):
        store.publish(_manifest(), *_gallery(20, seed=1))
    assert store.current() == first and len(GalleryIndex.load(tmp_path)) == 10


def test_old_versions_are_pruned_but_the_previous_one_is_kept(tmp_path: Path) -> None:
    store = IndexDir(tmp_path)
    published = [store.publish(_manifest(), *_gallery(5 + i)) for i in range(4)]
    remaining = sorted(p.name for p in store.versions.iterdir())
    assert remaining == sorted(p.name for p in published[-2:])
    assert store.current() == published[-1]


def test_a_loaded_index_survives_a_rebuild_underneath_it(tmp_path: Path) -> None:
    store = IndexDir(tmp_path)
    store.publish(_manifest(), *_gallery(6))
    serving = GalleryIndex.load(tmp_path)
    for i in range(3):
        store.publish(_manifest(), *_gallery(7 + i))
    records, vectors = _gallery(6)
    [matches] = serving.search(vectors[:1], k=1)
    assert matches[0].image_id == 0 and len(serving) == 6


def test_image_files_resolve_to_the_gallery_they_came_from(tmp_path: Path) -> None:
    IndexDir(tmp_path).publish(_manifest(), *_gallery(3))
    index = GalleryIndex.load(tmp_path)
    assert index.image_file("Person_1/1.jpg") == Path("g/Person_1/1.jpg")
    assert index.image_file("added/Someone/a.jpg") == Path("added/Someone/a.jpg")


# --- damaged files are found at load, with a way out -----------------------------------------------------------

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("file", [storage.VECTORS, storage.METADATA])
@pytest.mark.parametrize("damage", [_truncate, _flip_one_byte, Path.unlink], ids=["truncated", "one-byte", "deleted"])
def test_a_damaged_index_file_is_refused_at_load_with_how_to_rebuild(tmp_path: Path, file: str, damage) -> None:
    folder = IndexDir(tmp_path).publish(_manifest(), *_gallery(40))
    manifest = Manifest.read(folder / storage.MANIFEST)
    assert set(manifest.checksums) == {storage.VECTORS, storage.METADATA}
    damage(folder / file)
    with pytest.raises(storage.IndexCorruptError) as error:
        GalleryIndex.load(tmp_path)
    message = str(error.value)
    assert file in message and f"doppelganger index build --full --out {tmp_path}" in message


def test_a_damaged_manifest_is_refused_at_load(tmp_path: Path) -> None:
    folder = IndexDir(tmp_path).publish(_manifest(), *_gallery(5))
    _truncate(folder / storage.MANIFEST)
    with pytest.raises(storage.IndexCorruptError, match="manifest .* is damaged.*index build --full"):
        GalleryIndex.load(tmp_path)


def test_an_index_without_checksums_still_loads(tmp_path: Path) -> None:
    """Versions published before the checksums were recorded load as before (their files are read as they are)."""
    folder = IndexDir(tmp_path).publish(_manifest(), *_gallery(5))
    manifest = Manifest.read(folder / storage.MANIFEST)
    manifest.checksums = {}
    manifest.write(folder / storage.MANIFEST)
    assert len(GalleryIndex.load(tmp_path)) == 5


def test_leftovers_of_a_crashed_publish_are_pruned_but_a_publish_in_progress_is_not(tmp_path: Path) -> None:
    """Another process (a replica) may be publishing right now: only leftovers older than an hour are removed."""
    import os
    import time

    store = IndexDir(tmp_path)
    store.publish(_manifest(), *_gallery(5))
    crashed, in_progress = store.versions / ".staging-crashed", store.versions / ".staging-in-progress"
    crashed.mkdir()
    in_progress.mkdir()
    pointer = tmp_path / ".CURRENT.crashed"
    pointer.write_text("x\n")
    old = time.time() - storage.STALE_SECONDS - 60
    for path in (crashed, pointer):
        os.utime(path, (old, old))
    store.publish(_manifest(), *_gallery(6))
    assert not crashed.exists() and not pointer.exists() and in_progress.exists()


def test_a_manifest_of_the_wrong_shape_is_refused_not_a_crash(tmp_path: Path) -> None:
    folder = IndexDir(tmp_path).publish(_manifest(), *_gallery(5))
    (folder / storage.MANIFEST).write_text("[1, 2, 3]")
    with pytest.raises(storage.IndexCorruptError, match="manifest"):
        GalleryIndex.load(tmp_path)
