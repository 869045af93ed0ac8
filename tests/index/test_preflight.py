"""A build missing anything it needs fails at once, before it decodes or embeds a single image, and says what is
missing and what to do."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import index.build as build
import index.preflight as preflight
from index.build import GallerySource, build_index
from index.storage import IndexDir
from model.faces.crop import template_face
from model.pretrained import WeightsUnavailableError
from model.settings import get_settings

FAST = 5.0
"""Seconds a build with a missing prerequisite may take to fail."""


class NeverCalled:
    """An embedder that must not be used: the build has to fail before it embeds anything."""

    def __init__(self, dim: int = 16, image_size: int = 32) -> None:
        self.dim, self.image_size = dim, image_size
        self.calls = 0

    def embed(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        raise AssertionError("the build embedded an image before checking its prerequisites")


@pytest.fixture
def world(index_world, tmp_path: Path):
    """A photo gallery (the reported case), a private copy of the fake LFW, and the run."""
    root, _, run = index_world
    lfw = tmp_path / "lfw"
    shutil.copytree(root / "lfw", lfw)
    photos = tmp_path / "photos"
    for person in ("Ada_Lovelace", "Alan_Turing"):
        (photos / person).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((300, 400, 3), 60 + 40 * i, np.uint8)).save(photos / person / f"{i}.jpg")
    return photos, run, lfw, tmp_path


def _fails_fast(expected: type[BaseException], match: str, **overrides) -> None:
    """``build_index`` with ``overrides`` raises ``expected`` matching ``match`` in under ``FAST`` seconds, without
    embedding, locating (detecting) or decoding anything, and without publishing anything."""
    located: list[bytes] = []
    embedder = NeverCalled()

    def locate(data: bytes):
        located.append(data)
        frame = Image.new("RGB", (250, 250))
        return frame, template_face(frame)

    arguments = {"locate": locate, "embedder": embedder, "progress": False, "workers": 1} | overrides
    started = time.perf_counter()
    with pytest.raises(expected, match=match):
        build_index(**arguments)
    seconds = time.perf_counter() - started
    assert seconds < FAST, f"failed after {seconds:.1f} s"
    assert embedder.calls == 0 and not located
    out = Path(arguments["index_dir"])
    assert not out.exists() or IndexDir(out).current() is None


def _args(world, **changes) -> dict:
    photos, run, lfw, tmp = world
    return {"run_dir": run.path, "galleries": [GallerySource(photos, "photos")], "index_dir": tmp / "index",
            "lfw_dir": lfw} | changes


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def decoded(*args, **kwargs):
        raise AssertionError("an image was decoded before the prerequisites were checked")

    monkeypatch.setattr(build, "photo_batches", decoded)
    monkeypatch.setattr(build, "aligned_batches", decoded)


def test_missing_lfw_pairs_fail_before_the_photos_are_decoded(world, monkeypatch) -> None:
    """The reported case: a photo gallery, and no LFW pairs for the calibration."""
    _no_decoding(monkeypatch)
    (world[2] / "pairs.txt").unlink()
    _fails_fast(FileNotFoundError, r"pairs.txt is missing: the similarity calibration needs LFW's pairs; get LFW with "
                r"`doppelganger data download lfw`, or set DOPPELGANGER_DATA_DIR", **_args(world))


def test_missing_lfw_images_of_the_calibration_fail_fast(world, monkeypatch) -> None:
    _no_decoding(monkeypatch)
    shutil.rmtree(world[2] / "lfw-deepfunneled" / "Emmy_Noether")
    _fails_fast(FileNotFoundError, r"LFW images the similarity calibration needs are missing .*Emmy_Noether/.*"
                r"doppelganger data download lfw", **_args(world))
    shutil.rmtree(world[2] / "lfw-deepfunneled")
    _fails_fast(FileNotFoundError, r"calibration needs LFW's images: LFW images not found", **_args(world))


def test_a_missing_or_empty_gallery_fails_fast(world, monkeypatch) -> None:
    _no_decoding(monkeypatch)
    tmp = world[3]
    _fails_fast(FileNotFoundError, "gallery folder .*absent does not exist: give a folder with one subfolder per person",
                **_args(world, galleries=[GallerySource(tmp / "absent", "photos")]))
    (tmp / "empty" / "Nobody").mkdir(parents=True)
    _fails_fast(ValueError, r"holds no images: put each person's photos in their own subfolder",
                **_args(world, galleries=[GallerySource(tmp / "empty", "photos")]))
    _fails_fast(FileNotFoundError, "no images once the excluded people are left out",
                **_args(world, exclude_people={"Ada_Lovelace", "Alan_Turing"}))


def test_an_output_folder_that_cannot_be_written_fails_fast(world, monkeypatch) -> None:
    _no_decoding(monkeypatch)
    blocker = world[3] / "a-file"
    blocker.write_text("not a folder")
    _fails_fast(FileNotFoundError, "cannot write to the index folder .*a-file/index .*--out, or set DOPPELGANGER_INDEX_DIR",
                **_args(world, index_dir=blocker / "index"))


@pytest.mark.parametrize(
    ("factory", "match"),
    [("Bogus42", "FAISS cannot build index 'Bogus42'"), ("PQ5", "FAISS cannot build index 'PQ5'"),
     ("IVF64,Flat", "needs at least 64 gallery images to train its 64 lists, the gallery has 4"),
     ("PQ8", "needs at least 256 gallery images"), ("", "factory string is empty")],
)
def test_a_bad_faiss_factory_fails_fast(world, monkeypatch, factory: str, match: str) -> None:
    _no_decoding(monkeypatch)
    _fails_fast(ValueError, match, **_args(world, factory=factory))


def test_a_missing_run_or_split_fails_fast(world, monkeypatch, tmp_path: Path) -> None:
    _no_decoding(monkeypatch)
    _fails_fast(FileNotFoundError, "holds no trained model .*doppelganger train", **_args(world, run_dir=tmp_path / "no-run"))
    run = tmp_path / "run-copy"
    shutil.copytree(world[1].path, run)
    (run / "split.json").unlink()
    _fails_fast(FileNotFoundError, "the split of .* cannot be read", **_args(world, run_dir=run))


def test_missing_detector_weights_fail_fast(world, monkeypatch, tmp_path: Path) -> None:
    """Whole photos need the photo detector's weights: MTCNN's (in its package) or a pretrained model's."""
    _no_decoding(monkeypatch)
    monkeypatch.setattr(preflight, "photo_detector_name", lambda: "mtcnn")
    monkeypatch.setattr(preflight, "MTCNN_FILES", ("pnet.pt", "not-shipped.pt"))
    _fails_fast(FileNotFoundError, "MTCNN's weights not-shipped.pt are missing .*reinstall facenet-pytorch",
                **_args(world, locate=None))

    monkeypatch.setattr(preflight, "photo_detector_name", lambda: "yunet")
    monkeypatch.setenv("DOPPELGANGER_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    get_settings.cache_clear()
    try:
        _fails_fast(WeightsUnavailableError, "face_detection_yunet.* is missing .*doppelganger models download",
                    **_args(world, locate=None))
    finally:
        monkeypatch.delenv("DOPPELGANGER_WEIGHTS_DIR")
        get_settings.cache_clear()


def test_pairs_are_only_needed_when_a_calibration_is_fitted(world) -> None:
    """A rebuild with the same model reuses the live calibration: it runs without LFW's pairs."""
    from model.inference import Embedder

    photos, run, lfw, tmp = world
    embedder = Embedder.from_run(run.path)
    stub = lambda data: (frame := Image.open(__import__("io").BytesIO(data)).convert("RGB").resize((250, 250)), template_face(frame))  # noqa: E731
    build_index(run.path, [GallerySource(photos, "photos")], tmp / "index", lfw, embedder=embedder, locate=stub, progress=False)
    (lfw / "pairs.txt").unlink()
    Image.fromarray(np.full((300, 400, 3), 200, np.uint8)).save(photos / "Ada_Lovelace" / "new.jpg")
    report = build_index(run.path, [GallerySource(photos, "photos")], tmp / "index", lfw, embedder=embedder, locate=stub, progress=False)
    assert (report.embedded, report.kept) == (1, 4)
    with pytest.raises(FileNotFoundError, match="pairs.txt is missing"):
        build_index(run.path, [GallerySource(photos, "photos")], tmp / "index", lfw, embedder=embedder, locate=stub,
                    full=True, progress=False)
