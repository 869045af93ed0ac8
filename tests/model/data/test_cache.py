"""ImageCache: decode once with a Preprocess, then memory-map; atomic writes; helpful errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.data.cache import ImageCache
from model.transforms import Preprocess


def _make_images(root: Path) -> list[str]:
    """Five small images of different sizes, modes and formats, with distinct content."""
    rng = np.random.default_rng(0)
    specs = [
        ("a/one.png", (40, 30), "RGB"),
        ("a/two.jpg", (25, 25), "RGB"),
        ("b/three.png", (17, 50), "L"),  # greyscale: converted to RGB
        ("b/four.png", (32, 32), "RGBA"),  # alpha: converted to RGB
        ("c/five.jpeg", (64, 48), "RGB"),
    ]
    paths = []
    for path, (w, h), mode in specs:
        channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
        pixels = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8).squeeze()
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, mode=mode).save(root / path)
        paths.append(path)
    return paths


@pytest.fixture()
def images(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "images"
    return root, _make_images(root)


def _no_decoding(*args: object, **kwargs: object) -> np.ndarray:
    raise AssertionError("the cache decoded images although it was built already")


def test_build_matches_preprocess(tmp_path: Path, images: tuple[Path, list[str]]) -> None:
    root, paths = images
    preprocess = Preprocess(size=16)
    cache = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, preprocess)
    assert cache.images.shape == (5, 16, 16, 3)
    assert cache.images.dtype == np.uint8
    assert cache.paths == paths
    for i, path in enumerate(paths):
        with Image.open(root / path) as image:
            expected = preprocess(image)
        assert np.array_equal(cache.images[i], expected), path
    # take() returns the rows for any order of paths, in that order, as an in-memory array.
    order = [paths[3], paths[0], paths[3], paths[4]]
    taken = cache.take(order)
    assert taken.shape == (4, 16, 16, 3) and not isinstance(taken, np.memmap)
    assert np.array_equal(taken, np.stack([cache.images[3], cache.images[0], cache.images[3], cache.images[4]]))
    assert cache.rows(order).tolist() == [3, 0, 3, 4]


def test_box_preprocessing_is_cached_under_its_own_tag(tmp_path: Path, images: tuple[Path, list[str]]) -> None:
    root, paths = images
    full = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=8))
    boxed = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=8, box=(0, 0, 10, 10)))
    assert not np.array_equal(full.images, boxed.images)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    with Image.open(root / paths[0]) as image:
        assert np.array_equal(boxed.images[0], Preprocess(size=8, box=(0, 0, 10, 10))(image))


def test_second_call_loads_without_decoding(
    tmp_path: Path, images: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, paths = images
    first = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=16))
    built = np.array(first.images)
    monkeypatch.setattr(ImageCache, "_decode", staticmethod(_no_decoding))
    second = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=16))
    assert isinstance(second.images, np.memmap)
    assert np.array_equal(second.images, built)
    # A subset of the cached paths is served from the same cache too, addressed by path.
    subset = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths[2:4], Preprocess(size=16))
    assert np.array_equal(subset.take([paths[2]])[0], built[2])


def test_new_paths_rebuild_the_cache(tmp_path: Path, images: tuple[Path, list[str]]) -> None:
    root, paths = images
    ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths[:2], Preprocess(size=8))
    calls = []
    original = ImageCache._decode

    def counting(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(args[1])
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageCache, "_decode", staticmethod(counting))
        cache = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=8))
    assert calls == [paths]
    assert cache.paths == paths and cache.images.shape[0] == 5


def test_parallel_chunks_keep_the_order(
    tmp_path: Path, images: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 2 images: 3 chunks decoded by a process pool (on >= 2 cores), reassembled in path order.
    root, paths = images
    monkeypatch.setattr("model.data.cache._CHUNK", 2)
    cache = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=8))
    for i, path in enumerate(paths):
        with Image.open(root / path) as image:
            assert np.array_equal(cache.images[i], Preprocess(size=8)(image)), path


def test_missing_path_is_a_helpful_key_error(tmp_path: Path, images: tuple[Path, list[str]]) -> None:
    root, paths = images
    cache = ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=8))
    with pytest.raises(KeyError) as error:
        cache.take([paths[0], "nope/missing.jpg"])
    message = str(error.value)
    assert "nope/missing.jpg" in message
    assert "not in the image cache" in message
    assert "delete the cache folder" in message


def test_no_temporary_files_left(tmp_path: Path, images: tuple[Path, list[str]]) -> None:
    root, paths = images
    ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths, Preprocess(size=8))
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    tag = Preprocess(size=8).tag
    assert names == [f"toy-{tag}.json", f"toy-{tag}.npy"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_failed_build_leaves_no_cache(tmp_path: Path, images: tuple[Path, list[str]]) -> None:
    root, paths = images
    with pytest.raises(FileNotFoundError):
        ImageCache.load_or_build(tmp_path / "cache", "toy", root, paths + ["gone.png"], Preprocess(size=8))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
