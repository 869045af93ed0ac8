"""Shared fixtures: the real datasets and photos (skipped where absent), private cache and run folders per session,
and a tiny fake LFW with untrained runs over it (no training needed)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.config import TrainConfig
from model.faces.detector import Face
from model.data.image_set import ImageSet
from model.data.splits import save_split
from model.networks import EmbeddingNet
from model.run import RunDir
from model.settings import get_settings


@pytest.fixture(autouse=True, scope="session")
def _private_folders(tmp_path_factory: pytest.TempPathFactory):
    """Caches, runs and run summaries go to a temporary folder, never into the working tree (and the dashboards
    never show the working tree's committed summaries)."""
    saved = {k: os.environ.get(k) for k in ("DOPPELGANGER_CACHE_DIR", "DOPPELGANGER_RUNS_DIR", "DOPPELGANGER_SUMMARIES_DIR")}
    os.environ["DOPPELGANGER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["DOPPELGANGER_RUNS_DIR"] = str(tmp_path_factory.mktemp("runs"))
    os.environ["DOPPELGANGER_SUMMARIES_DIR"] = str(tmp_path_factory.mktemp("summaries"))
    get_settings.cache_clear()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$DOPPELGANGER_DATA_DIR`` holding the real ``lfw/`` and ``tt100k/``; tests that need it skip otherwise."""
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    if not root:
        pytest.skip("DOPPELGANGER_DATA_DIR is not set: real-data test skipped")
    missing = [name for name in ("lfw", "tt100k") if not (Path(root) / name).is_dir()]
    if missing:
        pytest.skip(f"{root} lacks {', '.join(missing)}/: real-data test skipped")
    return Path(root)

FAKE_PEOPLE = ["Ada_Lovelace", "Alan_Turing", "Grace_Hopper", "Kurt_Goedel"]
FAKE_PER_PERSON = 6
"""Images per fake person: 4 train, 1 val, 1 test."""


def make_fake_lfw(root: Path, seed: int = 0, people: list[str] | None = None) -> ImageSet:
    """A few people in the LFW layout under ``root/lfw`` (``FAKE_PEOPLE`` unless ``people`` is given), each with
    ``FAKE_PER_PERSON`` 250x250 JPEGs whose colours and shapes differ per person."""
    image_dir = root / "lfw" / "lfw-deepfunneled"
    rng = np.random.default_rng(seed)
    people = list(FAKE_PEOPLE if people is None else people)
    paths, labels = [], []
    for label, name in enumerate(people):
        (image_dir / name).mkdir(parents=True)
        base = rng.integers(40, 215, size=3)
        for n in range(1, FAKE_PER_PERSON + 1):
            pixels = np.clip(base + rng.normal(0, 25, size=(250, 250, 3)), 0, 255).astype(np.uint8)
            pixels[80 + 10 * (label % 8) : 170, 60 + 8 * n : 190] = 255 - base
            Image.fromarray(pixels).save(image_dir / name / f"{name}_{n:04d}.jpg", quality=90)
            paths.append(f"{name}/{name}_{n:04d}.jpg")
            labels.append(label)
    return ImageSet(root=image_dir, paths=paths, labels=np.asarray(labels, dtype=np.int64), classes=people)


def make_fake_run(path: Path, images: ImageSet, dim: int) -> RunDir:
    """An untrained small_cnn run over ``images`` (32 px input): config, best checkpoint and a 4/1/1 split."""
    run = RunDir(path)
    run.write_config(TrainConfig(dataset="lfw", backbone="small_cnn", pretrained=False, dim=dim, image_size=32, min_images=4))
    run.checkpoints.mkdir(parents=True)
    torch.manual_seed(dim)
    torch.save({"model": EmbeddingNet("small_cnn", dim, pretrained=False).state_dict(), "epoch": 0}, run.checkpoint("best"))
    position = np.arange(len(images)) % FAKE_PER_PERSON
    parts = {"train": position < 4, "val": position == 4, "test": position == 5}
    save_split(run.split_file, "lfw", {name: images.subset(np.flatnonzero(mask)) for name, mask in parts.items()})
    return run


@pytest.fixture(scope="session")
def fake_people() -> list[str]:
    return list(FAKE_PEOPLE)


@pytest.fixture(scope="session")
def fake_lfw():
    """``fake_lfw(root, seed=0) -> ImageSet``: writes a tiny LFW under ``root/lfw``."""
    return make_fake_lfw


@pytest.fixture(scope="session")
def fake_run():
    """``fake_run(path, images, dim) -> RunDir``: an untrained run over the fake LFW."""
    return make_fake_run


@pytest.fixture
def point_settings_at(monkeypatch: pytest.MonkeyPatch):
    """``point_settings_at(data_dir, cache_dir)``: the settings read this data and a cache of their own (so the
    session cache of the real LFW is never replaced by fake images); restored after the test."""

    def point(data_dir: Path, cache_dir: Path) -> None:
        monkeypatch.setenv("DOPPELGANGER_DATA_DIR", str(data_dir))
        monkeypatch.setenv("DOPPELGANGER_CACHE_DIR", str(cache_dir))
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """Real photos beside the data directory (``$DOPPELGANGER_DATA_DIR/../photos``); tests that need them skip
    otherwise."""
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    photos = Path(root).parent / "photos" if root else None
    if photos is None or not photos.is_dir():
        pytest.skip("no photos/ beside DOPPELGANGER_DATA_DIR: real-photo test skipped")
    return photos


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The pretrained face models beside the data directory (``$DOPPELGANGER_DATA_DIR/../weights/faces``, as
    ``../shared`` lays them out); tests that need them skip otherwise."""
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    weights = Path(root).parent / "weights" / "faces" if root else None
    if weights is None or not (weights / "openvino").is_dir():
        pytest.skip("no weights/faces/ beside DOPPELGANGER_DATA_DIR: pretrained-model test skipped")
    return weights


@pytest.fixture(scope="session")
def real_detector():
    """``real_detector(name, **options)``: the face detector ``name`` of ``model.faces.detectors`` with its network
    built (one per name and options for the session); the test skips when its pretrained weights are not on disk."""
    from model.faces.detectors import build_detector
    from model.pretrained import WeightsUnavailableError

    built = {}

    def make(name: str, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in built:
            detector = build_detector(name, **options)
            try:
                detector.network
            except WeightsUnavailableError as error:
                pytest.skip(f"the {name} detector's weights are missing: {error}")
            built[key] = detector
        return built[key]

    return make


RUN_PEOPLE = ["Ada_Lovelace", "Alan_Turing", "Grace_Hopper", "Kurt_Goedel"]
UNSEEN_PEOPLE = ["Emmy_Noether", "John_Neumann", "Lise_Meitner", "Niels_Bohr", "Paul_Dirac", "Rosalind_Franklin", "Marie_Curie", "Max_Born"]
FOLDS, PER_FOLD = 10, 15


def write_pairs(lfw_dir: Path, people: list[str], per_person: int, seed: int = 0) -> None:
    """A ``pairs.txt`` of ``FOLDS`` folds, each ``PER_FOLD`` same-person then ``PER_FOLD`` different-person pairs."""
    rng = np.random.default_rng(seed)
    lines = [f"{FOLDS}\t{PER_FOLD}"]
    for _ in range(FOLDS):
        for _ in range(PER_FOLD):
            name = people[rng.integers(len(people))]
            a, b = rng.choice(np.arange(1, per_person + 1), size=2, replace=False)
            lines.append(f"{name}\t{a}\t{b}")
        for _ in range(PER_FOLD):
            i, j = rng.choice(len(people), size=2, replace=False)
            lines.append(f"{people[i]}\t{rng.integers(1, per_person + 1)}\t{people[j]}\t{rng.integers(1, per_person + 1)}")
    (lfw_dir / "pairs.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def index_world(tmp_path_factory: pytest.TempPathFactory):
    """``(data_dir, lfw ImageSet, run RunDir)``: a 12-person fake LFW with pairs of its 8 unseen people, and an
    untrained run whose split holds the other 4."""
    root = tmp_path_factory.mktemp("index-world")
    images: ImageSet = make_fake_lfw(root, people=RUN_PEOPLE + UNSEEN_PEOPLE)
    write_pairs(root / "lfw", UNSEEN_PEOPLE, per_person=len(images) // len(images.classes))
    seen = np.flatnonzero(images.labels < len(RUN_PEOPLE))
    run = make_fake_run(root / "run", images.subset(seen), dim=16)
    return root, images, run


class StubDetector:
    """Two faces in fixed places, or none for a photo whose top-left pixel is black."""

    def detect(self, image: Image.Image) -> list[Face]:
        if image.getpixel((0, 0)) == (0, 0, 0):
            return []
        landmarks = np.array([[100, 110], [150, 110], [125, 140], [105, 165], [145, 165]], dtype=float)
        return [
            Face((60.0, 50.0, 190.0, 200.0), 0.999, landmarks),
            Face((10.0, 10.0, 40.0, 45.0), 0.95, landmarks / 5 + 5),
        ]


@pytest.fixture(scope="session")
def stub_detector() -> StubDetector:
    """Two faces in fixed places in any photo, none when its top-left pixel is black (no MTCNN needed)."""
    return StubDetector()


@pytest.fixture(scope="session")
def app_index(index_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake world's gallery indexed once with its untrained run: what the app and browser tests serve."""
    from index.build import build_index

    root, images, run = index_world
    out = tmp_path_factory.mktemp("app-index")
    build_index(run.path, images.root, out, root / "lfw", progress=False)
    return out


# ---------- an app served over HTTP ----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port; yields its URL, stops it afterwards."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def serve_app():
    """``serve_app(app)``: a generator serving ``app`` in a thread, yielding its URL (``yield from`` it)."""
    return serve
