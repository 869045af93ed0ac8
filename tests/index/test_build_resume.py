"""A build that is stopped or fails keeps what it embedded: run again, it embeds only what is left, and publishes
what an uninterrupted build would have; the checkpoint and the manifest are keyed by the model's crop."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import index.build as build
from index.build import GallerySource, build_index
from index.journal import journal_path
from index.storage import GalleryIndex, IndexDir
from model.faces.crop import template_face
from model.faces.detector import Face, NoFaceError
from model.inference import Embedder


@pytest.fixture
def world(index_world, tmp_path: Path):
    root, images, run = index_world
    gallery = tmp_path / "gallery"
    shutil.copytree(images.root, gallery)
    return gallery, run, root / "lfw", tmp_path


class CountingEmbedder:
    """The run's embedder, counting the images it embeds; it raises ``stop`` at its call number ``stop_at``."""

    def __init__(self, real: Embedder, stop_at: int | None = None, stop: type[BaseException] = KeyboardInterrupt) -> None:
        self.real, self.stop_at, self.stop = real, stop_at, stop
        self.dim, self.image_size = real.dim, real.image_size
        self.calls = 0
        self.images = 0

    def embed(self, images: np.ndarray) -> np.ndarray:
        if self.stop_at is not None and self.calls == self.stop_at:
            raise self.stop("stopped by the test")
        self.calls += 1
        self.images += len(images)
        return self.real.embed(images)


@pytest.fixture
def embedder(world) -> Embedder:
    return Embedder.from_run(world[1].path)


def _published(index_dir: Path) -> tuple[list[tuple[int, str]], np.ndarray, dict]:
    index = GalleryIndex.load(index_dir)
    try:
        ids, vectors = index.metadata.embeddings()
        records = [(r.id, r.path) for r in index.metadata.records()]
        return records, vectors, index.manifest.to_dict()
    finally:
        index.close()


def test_a_build_stopped_halfway_embeds_only_what_is_left_and_equals_a_clean_build(world, embedder, monkeypatch) -> None:
    gallery, run, lfw_dir, tmp = world
    monkeypatch.setattr(build, "BATCH", 16)  # 72 images: batches of 16, 16, 16, 16, 8

    clean = CountingEmbedder(embedder)
    build_index(run.path, gallery, tmp / "clean", lfw_dir, embedder=clean, progress=False)
    calibration_images = clean.images - 72  # the calibration embeds LFW pairs' images too

    out = tmp / "index"
    stopped = CountingEmbedder(embedder, stop_at=2)  # Ctrl-C while the third batch is embedded
    with pytest.raises(KeyboardInterrupt):
        build_index(run.path, gallery, out, lfw_dir, embedder=stopped, progress=False)
    assert stopped.images == 32 and IndexDir(out).current() is None
    assert journal_path(out).is_file()

    resumed = CountingEmbedder(embedder)
    report = build_index(run.path, gallery, out, lfw_dir, embedder=resumed, progress=False)
    assert resumed.images == 72 - 32 + calibration_images  # only the 40 images left, and the calibration's
    assert (report.count, report.embedded, report.resumed, report.kept) == (72, 40, 32, 0)
    assert not journal_path(out).exists()  # published: the checkpoint is gone

    records, vectors, manifest = _published(out)
    clean_records, clean_vectors, clean_manifest = _published(tmp / "clean")
    assert records == clean_records  # the same ids for the same images
    np.testing.assert_allclose(vectors, clean_vectors, atol=1e-6)
    assert manifest["calibration"]["threshold"] == pytest.approx(clean_manifest["calibration"]["threshold"])
    assert manifest["stats"]["resumed"] == 32 and manifest["crop"] == clean_manifest["crop"] != ""


def test_a_build_that_fails_after_embedding_keeps_every_embedding(world, embedder, monkeypatch) -> None:
    """The reported case: the gallery is embedded, then the calibration fails; the next build embeds nothing
    of the gallery again (and, here, nothing of the calibration's images either)."""
    gallery, run, lfw_dir, tmp = world
    out = tmp / "index"

    def broken(*args, **kwargs):
        raise FileNotFoundError("pairs.txt vanished during the build")

    real_calibration = build.lfw_calibration
    monkeypatch.setattr(build, "lfw_calibration", broken)
    first = CountingEmbedder(embedder)
    with pytest.raises(FileNotFoundError, match="vanished"):
        build_index(run.path, gallery, out, lfw_dir, embedder=first, progress=False)
    assert first.images == 72

    monkeypatch.setattr(build, "lfw_calibration", real_calibration)
    again = CountingEmbedder(embedder)
    report = build_index(run.path, gallery, out, lfw_dir, embedder=again, progress=False)
    assert (report.embedded, report.resumed) == (0, 72)
    calibration_images = again.images

    # The calibration's embeddings are checkpointed too: a build stopped after it redoes none of them.
    out2 = tmp / "index2"
    monkeypatch.setattr(build.IndexDir, "publish", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        build_index(run.path, gallery, out2, lfw_dir, embedder=CountingEmbedder(embedder), progress=False)
    monkeypatch.undo()
    last = CountingEmbedder(embedder)
    report = build_index(run.path, gallery, out2, lfw_dir, embedder=last, progress=False)
    assert last.images == 0 < calibration_images and report.resumed == 72


@dataclass(frozen=True)
class Retagged:
    """The run's crop under another tag: what a changed crop (other landmarks, another detector) looks like."""

    crop: object

    @property
    def size(self) -> int:
        return self.crop.size

    @property
    def tag(self) -> str:
        return self.crop.tag + "-changed"

    def __call__(self, frame, detect: bool = True):
        return self.crop(frame)

    def from_face(self, image, face):
        return self.crop.from_face(image, face)


def test_another_crop_reuses_neither_the_checkpoint_nor_the_live_version(world, embedder, monkeypatch) -> None:
    gallery, run, lfw_dir, tmp = world
    out = tmp / "index"
    monkeypatch.setattr(build, "BATCH", 16)
    with pytest.raises(KeyboardInterrupt):
        build_index(run.path, gallery, out, lfw_dir, embedder=CountingEmbedder(embedder, stop_at=2), progress=False)

    real_run_crop = build.run_crop
    monkeypatch.setattr(build, "run_crop", lambda *a, **k: Retagged(real_run_crop(*a, **k)))
    report = build_index(run.path, gallery, out, lfw_dir, embedder=CountingEmbedder(embedder), progress=False)
    assert (report.embedded, report.resumed) == (72, 0)  # the checkpoint was of the other crop
    changed_tag = GalleryIndex.load(out).manifest.crop
    assert changed_tag.endswith("-changed")

    # Back to the first crop: the live version's vectors are of the other one, so every image is embedded again,
    # and the calibration is fitted again (it was fitted on the other crop's embeddings).
    monkeypatch.setattr(build, "run_crop", real_run_crop)
    counting = CountingEmbedder(embedder)
    report = build_index(run.path, gallery, out, lfw_dir, embedder=counting, progress=False)
    assert (report.embedded, report.kept, report.up_to_date) == (72, 0, False) and counting.images > 72
    manifest = GalleryIndex.load(out).manifest
    assert manifest.crop == real_run_crop(run.config()).tag != changed_tag
    # Unchanged since: nothing to embed.
    assert build_index(run.path, gallery, out, lfw_dir, embedder=embedder, progress=False).up_to_date


def test_an_index_without_a_recorded_crop_is_embedded_again(world, embedder) -> None:
    gallery, run, lfw_dir, tmp = world
    out = tmp / "index"
    build_index(run.path, gallery, out, lfw_dir, embedder=embedder, progress=False)
    folder = IndexDir(out).current()
    manifest = (folder / "manifest.json").read_text().replace('"crop": "', '"crop_was": "')
    (folder / "manifest.json").write_text(manifest)  # as written before the crop was recorded
    report = build_index(run.path, gallery, out, lfw_dir, embedder=embedder, progress=False)
    assert (report.embedded, report.kept) == (72, 0)


def _photos(root: Path, people: int = 2, each: int = 4) -> Path:
    for p in range(people):
        (root / f"Person_{p}").mkdir(parents=True)
        for i in range(each):
            shade = 40 + 20 * (p * each + i)
            Image.fromarray(np.full((300, 400, 3), (shade, 255 - shade, 90), np.uint8)).save(root / f"Person_{p}" / f"{i}.png")
    return root


def grey_face(data: bytes) -> tuple[Image.Image, Face]:
    """A picklable stand-in for the detector (decoding processes unpickle it): the photo, shrunk to an LFW frame,
    with LFW's template face; a photo whose first pixel is dark has no face."""
    photo = Image.open(io.BytesIO(data)).convert("RGB")
    if photo.getpixel((0, 0))[0] < 50:
        raise NoFaceError()
    frame = photo.resize((250, 250))
    return frame, template_face(frame)


def test_a_stopped_photo_build_neither_embeds_nor_detects_again_what_it_did(world, embedder, monkeypatch) -> None:
    _, run, lfw_dir, tmp = world
    photos = _photos(tmp / "photos")  # 8 photos; Person_0/0.png (shade 40) has no face
    monkeypatch.setattr(build, "PHOTO_CHUNK", 2)
    located: list[int] = []

    def locate(data: bytes):
        located.append(1)
        return grey_face(data)

    out = tmp / "index"
    with pytest.raises(RuntimeError, match="stopped"):
        build_index(run.path, [GallerySource(photos, "photos")], out, lfw_dir, embedder=CountingEmbedder(embedder, 2, RuntimeError),
                    locate=locate, workers=1, progress=False)
    assert len(located) == 6  # the third chunk was located, then its embedding failed

    located.clear()
    report = build_index(run.path, [GallerySource(photos, "photos")], out, lfw_dir, embedder=embedder, locate=locate,
                         workers=1, progress=False)
    assert len(located) == 4  # the two chunks done (the faceless photo's too) are not located again
    assert (report.count, report.resumed, report.embedded) == (7, 3, 4)
    assert list(report.skipped) == ["Person_0/0.png"] and "no face" in report.skipped["Person_0/0.png"]


def test_whole_photos_are_decoded_by_a_pool_of_processes_with_the_same_result(world, embedder, monkeypatch) -> None:
    _, run, lfw_dir, tmp = world
    photos = _photos(tmp / "photos")
    monkeypatch.setattr(build, "PHOTO_CHUNK", 2)
    pools: list[int] = []
    real_pool = build.decoding_pool
    monkeypatch.setattr(build, "decoding_pool", lambda workers: (pools.append(workers), real_pool(workers))[1])

    chunks = list(build.photo_batches(photos, ["Person_1/0.png", "Person_1/1.png", "Person_1/2.png", "Person_1/3.png"],
                                      build.run_crop(run.config()), grey_face, workers=2))
    assert pools == [2]
    assert [c[0] for c in chunks] == [["Person_1/0.png", "Person_1/1.png"], ["Person_1/2.png", "Person_1/3.png"]]
    assert all(set(c[3]) == set(c[0]) for c in chunks)  # every face's box came back

    pooled = build_index(run.path, [GallerySource(photos, "photos")], tmp / "pooled", lfw_dir, embedder=embedder,
                         locate=grey_face, workers=2, progress=False)
    assert pools == [2, 2]
    serial = build_index(run.path, [GallerySource(photos, "photos")], tmp / "serial", lfw_dir, embedder=embedder,
                         locate=grey_face, workers=1, progress=False)
    assert pools == [2, 2] and pooled.count == serial.count == 7
    records, vectors, _ = _published(tmp / "pooled")
    serial_records, serial_vectors, _ = _published(tmp / "serial")
    assert records == serial_records
    np.testing.assert_allclose(vectors, serial_vectors, atol=1e-6)
    index = GalleryIndex.load(tmp / "pooled")
    faces = [r.face for r in index.metadata.records()]
    index.close()
    assert all(f is not None and (f.width, f.height) == (250, 250) for f in faces)


def test_the_command_says_what_a_stopped_build_kept(world, embedder, monkeypatch, point_settings_at, capsys) -> None:
    import argparse
    from types import SimpleNamespace

    gallery, run, lfw_dir, tmp = world
    point_settings_at(lfw_dir.parent, tmp / "cache")
    monkeypatch.setattr(build, "BATCH", 16)
    monkeypatch.setattr(build, "Embedder", SimpleNamespace(from_run=lambda path: CountingEmbedder(embedder, stop_at=2)))
    args = argparse.Namespace(gallery=[str(gallery)], kind="auto", run=str(run.path), out=str(tmp / "index"),
                              factory="Flat", full=False, workers=1)
    with pytest.raises(SystemExit) as stopped:
        build.main(args)
    assert stopped.value.code == 130
    assert "32 images embedded so far are kept in" in capsys.readouterr().err

    monkeypatch.setattr(build, "Embedder", SimpleNamespace(from_run=lambda path: embedder))
    assert build.main(args).resumed == 32
    assert "32 from an unfinished build's checkpoint" in capsys.readouterr().out
