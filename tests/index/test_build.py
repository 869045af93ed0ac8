from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import index.build as build
from index.build import GallerySource, build_index
from index.metadata import MetadataStore
from index.storage import GalleryIndex, IndexDir
from model.faces.crop import template_face
from model.faces.detector import Face, NoFaceError
from model.networks import EmbeddingNet


@pytest.fixture
def world(index_world, tmp_path: Path):
    """A private copy of the fake gallery (tests change it) and the run, with an empty index folder."""
    root, images, run = index_world
    gallery = tmp_path / "gallery"
    shutil.copytree(images.root, gallery)
    return gallery, run, root / "lfw", tmp_path / "index"


def _ids_by_path(index_dir: Path) -> dict[str, int]:
    store = MetadataStore(IndexDir(index_dir).current() / "metadata.sqlite")
    return {r.path: r.id for r in store.records()}


def test_first_build_embeds_every_image_and_calibrates_on_unseen_pairs(world) -> None:
    gallery, run, lfw_dir, out = world
    report = build_index(run.path, gallery, out, lfw_dir, progress=False)
    assert (report.count, report.embedded, report.kept, report.removed) == (72, 72, 0, 0)
    index = GalleryIndex.load(out)
    manifest = index.manifest
    assert manifest.galleries == [{"root": str(gallery), "kind": "aligned", "prefix": ""}] and manifest.dim == 16 and manifest.image_size == 32
    assert manifest.calibration["pairs"] == 300 and "never trained on" in manifest.calibration["source"]
    assert manifest.stats["embedded"] == 72 and manifest.version == report.version


def test_rebuild_keeps_unchanged_images_adds_new_drops_removed_and_reembeds_changed(world) -> None:
    gallery, run, lfw_dir, out = world
    build_index(run.path, gallery, out, lfw_dir, progress=False)
    before = _ids_by_path(out)
    live = IndexDir(out).current()
    unchanged = build_index(run.path, gallery, out, lfw_dir, progress=False)
    assert (unchanged.embedded, unchanged.kept, unchanged.removed, unchanged.up_to_date) == (0, 72, 0, True)
    assert _ids_by_path(out) == before and IndexDir(out).current() == live  # nothing new published

    (gallery / "Ada_Lovelace" / "Ada_Lovelace_0001.jpg").unlink()
    changed = gallery / "Alan_Turing" / "Alan_Turing_0002.jpg"
    Image.fromarray(np.full((250, 250, 3), 17, np.uint8)).save(changed)
    (gallery / "New_Person").mkdir()
    shutil.copy(gallery / "Grace_Hopper" / "Grace_Hopper_0001.jpg", gallery / "New_Person" / "New_Person_0001.jpg")
    report = build_index(run.path, gallery, out, lfw_dir, progress=False)
    assert (report.count, report.embedded, report.kept, report.removed) == (72, 2, 70, 1)
    after = _ids_by_path(out)
    assert "Ada_Lovelace/Ada_Lovelace_0001.jpg" not in after
    assert after["Alan_Turing/Alan_Turing_0002.jpg"] != before["Alan_Turing/Alan_Turing_0002.jpg"]
    assert all(after[p] == i for p, i in before.items() if p in after and p != "Alan_Turing/Alan_Turing_0002.jpg")
    # The copy and its original embed identically: the new person's image finds Grace Hopper's at cosine 1.
    index = GalleryIndex.load(out)
    _, vectors = index.metadata.embeddings()
    new_row = sorted(after.values()).index(after["New_Person/New_Person_0001.jpg"])
    top = index.search(vectors[new_row : new_row + 1], k=2)[0]
    assert {m.person for m in top} == {"New_Person", "Grace_Hopper"} and top[1].cosine == pytest.approx(1.0, abs=1e-5)


def test_a_new_model_embeds_everything_again(world) -> None:
    gallery, run, lfw_dir, out = world
    build_index(run.path, gallery, out, lfw_dir, progress=False)
    torch.manual_seed(123)
    torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": 0}, run.checkpoint("best"))
    try:
        report = build_index(run.path, gallery, out, lfw_dir, progress=False)
    finally:
        torch.manual_seed(16)  # restore the fixture's model for the other tests
        torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": 0}, run.checkpoint("best"))
    assert (report.embedded, report.kept) == (72, 0)


def test_a_failed_rebuild_leaves_the_previous_index_serving(world, monkeypatch: pytest.MonkeyPatch) -> None:
    gallery, run, lfw_dir, out = world
    first = build_index(run.path, gallery, out, lfw_dir, progress=False)
    (gallery / "Late_Arrival").mkdir()
    shutil.copy(gallery / "Ada_Lovelace" / "Ada_Lovelace_0001.jpg", gallery / "Late_Arrival" / "a.jpg")

    def broken(*args, **kwargs):
        raise RuntimeError("embedding crashed")

    monkeypatch.setattr(build.Embedder, "embed", broken)
    with pytest.raises(RuntimeError, match="embedding crashed"):
        build_index(run.path, gallery, out, lfw_dir, progress=False)
    assert IndexDir(out).current().name == first.version and len(GalleryIndex.load(out)) == 72


def test_a_damaged_live_version_is_rebuilt_in_full(world) -> None:
    gallery, run, lfw_dir, out = world
    first = build_index(run.path, gallery, out, lfw_dir, progress=False)
    vectors = IndexDir(out).current() / "index.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    report = build_index(run.path, gallery, out, lfw_dir, progress=False)  # not "up to date": the live one is broken
    assert (report.embedded, report.kept, report.up_to_date) == (72, 0, False)
    assert report.version != first.version and len(GalleryIndex.load(out)) == 72


def test_unreadable_files_are_skipped_with_their_reason(world) -> None:
    gallery, run, lfw_dir, out = world
    (gallery / "Ada_Lovelace" / "broken.jpg").write_bytes(b"not a jpeg at all")
    report = build_index(run.path, [GallerySource(gallery, "aligned")], out, lfw_dir, progress=False)
    assert report.count == 72 and list(report.skipped) == ["Ada_Lovelace/broken.jpg"]
    assert report.skipped["Ada_Lovelace/broken.jpg"].startswith("cannot decode: ")


def test_a_photo_gallery_goes_through_the_face_crop_and_skips_faceless_photos(world, tmp_path: Path) -> None:
    gallery, run, lfw_dir, out = world
    photos = tmp_path / "photos"
    for person in ("Ada_Lovelace", "Alan_Turing"):
        (photos / person).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((300, 400, 3), 60 + 40 * i, np.uint8)).save(photos / person / f"{i}.jpg")
    crops = []

    def locate(data: bytes) -> tuple[Image.Image, Face]:
        crops.append(len(data))
        if len(crops) == 3:
            raise NoFaceError()
        image = Image.new("RGB", (250, 250), (len(crops) * 30, 0, 0))
        return image, template_face(image)

    report = build_index(run.path, photos, out, lfw_dir, locate=locate, progress=False)
    assert len(crops) == 4 and report.count == 3
    assert "no face found" in next(iter(report.skipped.values()))
    assert GalleryIndex.load(out).manifest.galleries[0]["kind"] == "photos"


def test_a_run_that_is_not_a_face_model_or_not_trained_is_refused(world, tmp_path: Path) -> None:
    gallery, run, lfw_dir, out = world
    with pytest.raises(FileNotFoundError, match="no trained model"):
        build_index(tmp_path / "nothing", gallery, out, lfw_dir, progress=False)
    with pytest.raises(FileNotFoundError, match="gallery folder"):
        build_index(run.path, tmp_path / "absent", out, lfw_dir, progress=False)


def test_a_second_gallery_of_photos_joins_the_first_and_excluded_people_are_left_out(world, tmp_path: Path) -> None:
    gallery, run, lfw_dir, out = world
    added = tmp_path / "added"
    (added / "Newcomer").mkdir(parents=True)
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(added / "Newcomer" / "selfie.jpg")
    progress: list[tuple[int, int]] = []
    report = build_index(
        run.path, [GallerySource(gallery), GallerySource(added, "photos", "added/")], out, lfw_dir,
        exclude_people={"Ada_Lovelace"}, locate=lambda data: (frame := Image.new("RGB", (250, 250), (1, 2, 3)), template_face(frame)),
        progress=False, on_progress=lambda done, total: progress.append((done, total)),
    )
    assert report.count == 72 - 6 + 1 and progress[-1] == (67, 67)
    index = GalleryIndex.load(out)
    paths = {r.path: r for r in index.metadata.records()}
    assert "added/Newcomer/selfie.jpg" in paths and not any(p.startswith("Ada_Lovelace/") for p in paths)
    assert index.image_file("added/Newcomer/selfie.jpg") == added / "Newcomer" / "selfie.jpg"
    # Rebuilt with the same sources: nothing is embedded again.
    again = build_index(
        run.path, [GallerySource(gallery), GallerySource(added, "photos", "added/")], out, lfw_dir,
        exclude_people={"Ada_Lovelace"}, progress=False,
    )
    assert (again.embedded, again.kept) == (0, 67)
    full = build_index(run.path, [GallerySource(gallery)], out, lfw_dir, full=True, progress=False)
    assert (full.embedded, full.kept, full.removed) == (72, 0, 1)
