"""The teacher of a distilled run: its identity, its embeddings computed once per image and cached, a cache made by
another teacher refused, and the teachers that are refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.config import TrainConfig
from model.data.cache import ImageCache
from model.hashing import file_sha256
from model.networks import EmbeddingNet
from model.run import RunDir
from model.teacher import Teacher, cache_stem, resolve_teacher, teacher_embeddings, with_teacher_template

PATHS = [f"person_{i}/person_{i}_0001.jpg" for i in range(6)]


def _images(n: int = 6, size: int = 32) -> ImageCache:
    """``n`` flat-coloured images, in memory, under ``PATHS``."""
    pixels = np.stack([np.full((size, size, 3), 40 * i, dtype=np.uint8) for i in range(n)])
    return ImageCache(pixels, PATHS[:n])


class CountingTeacher:
    """A stand-in for a teacher's network: each image's mean colour and a constant, normalised; counts its images."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.seen.append(len(images))
        features = np.concatenate([images.reshape(len(images), -1, 3).mean(axis=1), np.full((len(images), 1), 50.0)], axis=1)
        return (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32)


def _teacher(sha: str = "a" * 64, label: str = "fake") -> Teacher:
    config = TrainConfig(protocol="devtrain", backbone="small_cnn", pretrained=False, dim=4, image_size=32, epochs=0)
    return Teacher(spec=label, label=label, sha256=sha, config=config)


def test_embeddings_are_computed_once_per_image_and_then_read(tmp_path: Path) -> None:
    teacher, embed = _teacher(), CountingTeacher()
    first = teacher_embeddings(teacher, _images(), PATHS[:4], tmp_path, embed=embed)
    assert embed.seen == [4] and first.shape == (4, 4)
    np.testing.assert_allclose(first, embed(_images().take(PATHS[:4])), rtol=1e-6)
    embed.seen.clear()
    again = teacher_embeddings(teacher, _images(), PATHS[:4], tmp_path, embed=embed)
    assert embed.seen == []  # the second call does not run the teacher
    np.testing.assert_array_equal(again, first)
    # New paths: only they are embedded, and added; the order asked for is the order returned.
    wider = teacher_embeddings(teacher, _images(), PATHS[::-1], tmp_path, embed=embed)
    assert embed.seen == [2]
    np.testing.assert_array_equal(wider[2:], first[::-1])
    meta = json.loads(cache_stem(teacher, tmp_path).with_suffix(".json").read_text())
    assert meta["sha256"] == teacher.sha256 and meta["dim"] == 4 and sorted(meta["paths"]) == sorted(PATHS)
    assert meta["crop"] == "box61-61-189-189-32"  # the teacher's own crop: LFW's frame at its 32 px
    # The images are loaded only when the teacher has something to embed.
    teacher_embeddings(teacher, lambda: pytest.fail("no image should be read"), PATHS, tmp_path, embed=embed)


def test_the_cache_is_keyed_by_the_teachers_identity_and_crop(tmp_path: Path) -> None:
    a, b = _teacher("a" * 64), _teacher("b" * 64)
    assert cache_stem(a, tmp_path).name == "teacher-fake-aaaaaaaaaaaa-lfw-box61-61-189-189-32"
    assert cache_stem(a, tmp_path) != cache_stem(b, tmp_path)
    embed = CountingTeacher()
    teacher_embeddings(a, _images(), PATHS, tmp_path, embed=embed)
    teacher_embeddings(b, _images(), PATHS, tmp_path, embed=embed)
    assert embed.seen == [6, 6]  # another teacher: embedded again, into a file of its own


def test_a_cache_made_by_another_teacher_is_refused_and_rebuilt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _teacher("a" * 64), _teacher("b" * 64)
    teacher_embeddings(a, _images(), PATHS, tmp_path, embed=lambda images: np.ones((len(images), 4), np.float32) / 2)
    for suffix in (".npy", ".json"):  # a's files under b's name (copied by hand, or a hash prefix shared)
        shutil.copy(cache_stem(a, tmp_path).with_suffix(suffix), cache_stem(b, tmp_path).with_suffix(suffix))
    embed = CountingTeacher()
    out = teacher_embeddings(b, _images(), PATHS, tmp_path, embed=embed)
    assert embed.seen == [6] and "made by another teacher" in capsys.readouterr().out
    np.testing.assert_allclose(out, embed(_images().take(PATHS)), rtol=1e-6)
    assert json.loads(cache_stem(b, tmp_path).with_suffix(".json").read_text())["sha256"] == b.sha256


def _teacher_run(path: Path, protocol: str = "devtrain", epochs: int = 0, dim: int = 16) -> RunDir:
    """A small_cnn run at 32 px with an untrained best checkpoint: a teacher that needs no weights file."""
    run = RunDir(path)
    run.write_config(TrainConfig(protocol=protocol, backbone="small_cnn", pretrained=False, dim=dim, image_size=32, epochs=epochs, min_images=10))
    run.checkpoints.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save({"model": EmbeddingNet("small_cnn", dim, pretrained=False).state_dict(), "epoch": -1}, run.checkpoint("best"))
    return run


def test_a_run_teacher_is_its_best_checkpoint(tmp_path: Path) -> None:
    run = _teacher_run(tmp_path / "teacher-run")
    teacher = resolve_teacher(str(run.path) + "/")
    assert teacher.sha256 == file_sha256(run.checkpoint("best")) and teacher.label == "teacher-run" and teacher.dim == 16
    assert teacher.face_template is None  # it sees LFW's frames: so does its student
    embedder = teacher.embedder(threads=1)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(embedder.embed(images), embedder.embed(images))
    assert embedder.embed(images).shape == (3, 16)
    # The student takes its teacher's crop; another one is refused.
    student = TrainConfig(protocol="devtrain", teacher=str(run.path), backbone="small_cnn", image_size=24)
    assert with_teacher_template(student, teacher).face_template is None
    with pytest.raises(ValueError, match="the student sees its teacher's crop"):
        with_teacher_template(TrainConfig(protocol="devtrain", teacher=str(run.path), face_template="face_reid_0095"), teacher)
    # A retrained checkpoint is another teacher.
    torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": 0}, run.checkpoint("best"))
    assert resolve_teacher(str(run.path)).sha256 != teacher.sha256


def test_teachers_that_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a face backbone"):
        resolve_teacher(str(tmp_path / "nowhere"))
    closed = _teacher_run(tmp_path / "closed", protocol="closed", epochs=3)
    with pytest.raises(ValueError, match="has seen people of DevTest and View 2"):
        resolve_teacher(str(closed.path))
    untrained = _teacher_run(tmp_path / "untrained", protocol="closed", epochs=0)
    assert resolve_teacher(str(untrained.path)).sha256  # an untrained (published) network has learnt no LFW people
    (untrained.checkpoint("best")).unlink()
    with pytest.raises(FileNotFoundError, match="has no"):
        resolve_teacher(str(untrained.path))


@pytest.mark.slow
def test_the_published_face_network_as_teacher(data_dir: Path, weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """face_reid_0095 on six LFW faces (aligned on LFW's calibrated landmarks, no detector): its identity is its
    model files, its cached embeddings are its own network's, and a second call does not run it."""
    from model.faces.crop import crop_for
    from model.inference import embed_images
    from model.settings import get_settings

    monkeypatch.setenv("DOPPELGANGER_WEIGHTS_DIR", str(weights_dir))
    get_settings.cache_clear()
    try:
        teacher = resolve_teacher("face_reid_0095")
        files = [weights_dir / "openvino" / f"face-reidentification-retail-0095.{ext}" for ext in ("xml", "bin")]
        assert teacher.sha256 == hashlib.sha256("\n".join(file_sha256(f) for f in files).encode()).hexdigest()
        assert teacher.dim == 256 and teacher.face_template == "face_reid_0095"
        assert teacher.crop_tag() == "aligned-face_reid_0095-mtcnn20-128"
        root = data_dir / "lfw" / "lfw-deepfunneled"
        paths = ["Aaron_Peirsol/Aaron_Peirsol_0001.jpg", "Aaron_Peirsol/Aaron_Peirsol_0002.jpg", "Abdullah/Abdullah_0001.jpg",
                 "Abdullah/Abdullah_0002.jpg", "Adam_Sandler/Adam_Sandler_0001.jpg", "Adam_Sandler/Adam_Sandler_0002.jpg"]
        crop = crop_for("lfw", 128, "face_reid_0095")
        images = ImageCache(np.stack([crop(Image.open(root / p), detect=False) for p in paths]), paths)
        vectors = teacher_embeddings(teacher, images, paths, tmp_path)
        eager = embed_images(EmbeddingNet.from_config(teacher.config).eval(), images.take(paths))
        np.testing.assert_allclose(vectors, eager, atol=2e-3)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        assert teacher_embeddings(teacher, images, paths, tmp_path, embed=lambda _: pytest.fail("ran again")).shape == (6, 256)
    finally:
        get_settings.cache_clear()
