"""A student's input: its teacher's crop resized (``Resized``), cached from the teacher's image cache without
decoding again, and the crop a run's config names (``input_crop``, ``run_crop``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.config import TrainConfig
from model.data.cache import ImageCache
from model.data.tasks import input_crop, run_crop
from model.faces.crop import AlignedCrop, FrameCrop
from model.transforms import Resized, preprocess_for, resize_image


def test_input_crop_is_the_teachers_aligned_crop_resized() -> None:
    crop = input_crop("lfw", 96, "mobilenet_v2", "face_reid_0095")
    assert isinstance(crop, Resized) and isinstance(crop.crop, AlignedCrop) and crop.size == 96
    assert crop.crop.size == 128 and crop.tag == "aligned-face_reid_0095-mtcnn20-128-to96"
    # At the teacher's own size it is the teacher's crop itself, with its cache.
    assert input_crop("lfw", 128, "small_cnn", "face_reid_0095") == AlignedCrop(128, crop.crop.landmarks, "face_reid_0095")
    assert isinstance(input_crop("lfw", 64, "mobilenet_v2"), FrameCrop)
    distilled = TrainConfig(protocol="devtrain", teacher="face_reid_0095", dim=256, image_size=112)
    assert distilled.face_template == "face_reid_0095" and run_crop(distilled).tag.endswith("-128-to112")
    assert isinstance(run_crop(TrainConfig()), FrameCrop)


def test_a_resized_crop_resizes_what_its_crop_makes() -> None:
    frame = Image.fromarray(np.random.default_rng(0).integers(0, 256, size=(250, 250, 3), dtype=np.uint8))
    base = FrameCrop(preprocess_for("lfw", 32))
    resized = Resized(base, 16)
    np.testing.assert_array_equal(resized(frame), resize_image(base(frame), 16))
    assert resized(frame).shape == (16, 16, 3) and resized(frame).dtype == np.uint8
    assert resized.tag == base.tag + "-to16"
    np.testing.assert_array_equal(resize_image(base(frame), 32), base(frame))  # its own size: unchanged


def test_the_cache_of_a_resized_crop_is_made_from_the_crops_cache(
    tmp_path: Path, fake_lfw, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first use decodes the frames once, at the base crop's size; the resized cache is made from that cache,
    without decoding again, and equals resizing every cached image."""
    images = fake_lfw(tmp_path / "data")
    base = FrameCrop(preprocess_for("lfw", 32))
    decoded: list[str] = []
    original = ImageCache._decode

    def counting(root, paths, preprocess, desc):
        decoded.append(preprocess.tag)
        return original(root, paths, preprocess, desc)

    monkeypatch.setattr(ImageCache, "_decode", staticmethod(counting))
    small = ImageCache.load_or_build(tmp_path / "cache", "lfw", images.root, images.paths, Resized(base, 16))
    assert decoded == [base.tag]  # only the base crop was decoded
    full = ImageCache.load_or_build(tmp_path / "cache", "lfw", images.root, images.paths, base)
    assert decoded == [base.tag]  # and it is cached
    expected = np.stack([resize_image(image, 16) for image in full.take(images.paths)])
    np.testing.assert_array_equal(small.take(images.paths), expected)
    assert (tmp_path / "cache" / f"lfw-{base.tag}-to16.npy").exists()
    assert ImageCache.load_if_complete(tmp_path / "cache", "lfw", images.paths, Resized(base, 16)) is not None
