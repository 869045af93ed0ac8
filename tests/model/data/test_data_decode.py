"""decode_chunks / decode_for_model: by default exactly the cache's preprocessing; JPEGs decoded at reduced size come
close; order; undecodable files raise or are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.data.batch_decode import decode_for_model, load_for_model
from model.transforms import Preprocess, preprocess_for


def _smooth_image(seed: int, size: tuple[int, int] = (250, 250)) -> Image.Image:
    """A smooth picture with an edge (what faces look like to a JPEG coder), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
    channels = [np.sin(x * rng.uniform(2, 6) + rng.uniform(0, 3)) * np.cos(y * rng.uniform(2, 6)) for _ in range(3)]
    pixels = (np.stack(channels, axis=-1) * 90 + 128).astype(np.uint8)
    pixels[size[1] // 3 : size[1] // 2, size[0] // 4 : size[0] // 2] = rng.integers(0, 256, size=3)
    return Image.fromarray(pixels)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    out = []
    for n in range(6):
        path = tmp_path / f"face{n}.jpg"
        _smooth_image(n).save(path, quality=95)
        out.append(path)
    png = tmp_path / "face6.png"
    _smooth_image(6).save(png)
    return out + [png]


@pytest.mark.parametrize("preprocess", [preprocess_for("lfw", 64), preprocess_for("lfw", 32), Preprocess(size=48)])
def test_reduced_decode_is_close_to_full_decode(files: list[Path], preprocess: Preprocess) -> None:
    full = np.stack([preprocess(Image.open(p)) for p in files])
    fast = decode_for_model(files, preprocess, workers=1, draft=True)
    assert fast.shape == full.shape and fast.dtype == np.uint8
    difference = np.abs(fast.astype(int) - full.astype(int))
    assert difference.mean() < 3.0, difference.mean()
    # Not a JPEG: no reduced decode, so exactly the full-size path.
    np.testing.assert_array_equal(fast[-1], full[-1])
    # Without draft (the default), exactly what the cache stores.
    np.testing.assert_array_equal(decode_for_model(files, preprocess, workers=1), full)


def test_reduces_only_as_far_as_the_crop_allows(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _smooth_image(0, size=(1000, 1000)).save(path)
    with Image.open(path) as image:  # a 512 px crop to 64 px: decoded at 1/8 (125 px, the crop 64 px)
        assert load_for_model(image, Preprocess(size=64, box=(244, 244, 756, 756)), draft=True).shape == (64, 64, 3)
        assert image.size == (125, 125)
    with Image.open(path) as image:  # a 128 px crop to 64 px: 1/2 only
        load_for_model(image, Preprocess(size=64, box=(436, 436, 564, 564)), draft=True)
        assert image.size == (500, 500)


def test_workers_keep_the_order(files: list[Path]) -> None:
    preprocess = preprocess_for("lfw", 32)
    many = files * 40  # more than one chunk
    one = decode_for_model(many, preprocess, workers=1)
    np.testing.assert_array_equal(decode_for_model(many, preprocess, workers=2), one)
    assert decode_for_model([], preprocess).shape == (0, 32, 32, 3)


def test_decode_chunks_yields_chunks_in_order(files: list[Path]) -> None:
    from model.data.batch_decode import decode_chunks, decoding_pool

    preprocess = preprocess_for("lfw", 32)
    many = [p.name for p in files] * 5
    root = files[0].parent
    with decoding_pool(2) as pool:
        blocks = list(decode_chunks(root, many, preprocess, pool=pool, chunk=8))
    assert [len(paths) for paths, _, _ in blocks] == [8, 8, 8, 8, 3]
    assert [p for paths, _, _ in blocks for p in paths] == many
    assert all(failed == {} for _, _, failed in blocks)
    expected = decode_for_model([root / p for p in many], preprocess, workers=1)
    np.testing.assert_array_equal(np.concatenate([images for _, images, _ in blocks]), expected)
    # Its own pool of processes gives the same.
    own = np.concatenate([images for _, images, _ in decode_chunks(root, many, preprocess, 2, chunk=8)])
    np.testing.assert_array_equal(own, expected)


@pytest.mark.parametrize("workers", [1, 2])
def test_undecodable_files_raise_or_are_reported(files: list[Path], workers: int) -> None:
    from model.data.batch_decode import decode_chunks

    root = files[0].parent
    (root / "broken.jpg").write_bytes(b"not an image")
    paths = [files[0].name, "broken.jpg", "missing.jpg", files[1].name] * 2
    preprocess = Preprocess(size=16)
    with pytest.raises(OSError):
        list(decode_chunks(root, paths, preprocess, workers, chunk=4))
    blocks = list(decode_chunks(root, paths, preprocess, workers, chunk=4, skip_failures=True))
    failed = {path: reason for _, _, f in blocks for path, reason in f.items()}
    assert set(failed) == {"broken.jpg", "missing.jpg"}
    assert all(reason.startswith("cannot decode: ") for reason in failed.values())
    images = np.concatenate([images for _, images, _ in blocks])
    with Image.open(files[1]) as image:
        np.testing.assert_array_equal(images[3], preprocess(image))


def test_draft_needs_a_preprocess(files: list[Path]) -> None:
    from model.data.batch_decode import decode_chunks

    class Crop:
        size, tag = 16, "toy"

        def __call__(self, image: Image.Image) -> np.ndarray:
            return np.zeros((16, 16, 3), dtype=np.uint8)

    with pytest.raises(TypeError):
        list(decode_chunks(files[0].parent, [files[0].name], Crop(), draft=True))
    paths, images, failed = next(decode_chunks(files[0].parent, [files[0].name], Crop()))
    assert paths == [files[0].name] and images.shape == (1, 16, 16, 3) and failed == {}
