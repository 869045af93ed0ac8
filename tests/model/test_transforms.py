"""Preprocessing (LFW face box crop, resize, cache tags) and batch augmentation (mirror for faces only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from model.transforms import (
    LFW_FACE_BOX,
    LFW_FRAME,
    BatchAugment,
    Preprocess,
    augmentation_for,
    preprocess_for,
    to_float_batch,
)

BOX_COLOUR = (200, 30, 60)
OUTSIDE_COLOUR = (10, 220, 40)


def _lfw_frame() -> Image.Image:
    """A 250x250 frame: the face box one colour, everything else another."""
    pixels = np.empty((LFW_FRAME, LFW_FRAME, 3), dtype=np.uint8)
    pixels[:] = OUTSIDE_COLOUR
    x0, y0, x1, y1 = LFW_FACE_BOX
    pixels[y0:y1, x0:x1] = BOX_COLOUR
    return Image.fromarray(pixels)


@pytest.mark.parametrize("size", [64, 32, 128, 200])
def test_lfw_preprocess_crops_exactly_the_face_box(size: int) -> None:
    out = preprocess_for("lfw", size)(_lfw_frame())
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    # Not a single pixel of the outside colour leaks in, even at the borders.
    assert np.array_equal(out, np.broadcast_to(np.array(BOX_COLOUR, np.uint8), out.shape))


def test_lfw_preprocess_keeps_the_whole_face_box() -> None:
    # Noise everywhere: the output is the box region [61:189, 61:189] resized, not a smaller or shifted region.
    pixels = np.random.default_rng(0).integers(0, 256, size=(LFW_FRAME, LFW_FRAME, 3), dtype=np.uint8)
    x0, y0, x1, y1 = LFW_FACE_BOX
    assert (x0, y0, x1, y1) == (61, 61, 189, 189)
    expected = Image.fromarray(pixels[y0:y1, x0:x1].copy()).resize((64, 64), Image.Resampling.BILINEAR, reducing_gap=None)
    assert np.array_equal(preprocess_for("lfw", 64)(Image.fromarray(pixels)), np.asarray(expected))
    # At its native size the crop is the box pixels themselves.
    assert np.array_equal(preprocess_for("lfw", 128)(Image.fromarray(pixels)), pixels[y0:y1, x0:x1])


def test_lfw_face_box_is_centred_in_the_frame() -> None:
    x0, y0, x1, y1 = LFW_FACE_BOX
    assert x0 + x1 == LFW_FRAME and y0 + y1 == LFW_FRAME
    assert x1 - x0 == y1 - y0 > LFW_FRAME / 2.2  # larger than the Viola-Jones box (250 / 2.2 ~ 114 px)


def test_tt100k_preprocess_resizes_the_whole_crop() -> None:
    # A 30x20 crop, left half black, right half white: the whole crop is kept, squeezed to a square.
    pixels = np.zeros((20, 30, 3), dtype=np.uint8)
    pixels[:, 15:] = 255
    out = preprocess_for("tt100k", 16)(Image.fromarray(pixels))
    assert out.shape == (16, 16, 3)
    assert (out[:, :7] == 0).all() and (out[:, 9:] == 255).all()


def test_preprocess_converts_modes_to_rgb() -> None:
    grey = Image.new("L", (10, 10), 77)
    assert np.array_equal(Preprocess(size=4)(grey), np.full((4, 4, 3), 77, np.uint8))
    rgba = Image.new("RGBA", (10, 10), (1, 2, 3, 0))
    assert Preprocess(size=4)(rgba).shape == (4, 4, 3)


def test_tags_name_the_preprocessing() -> None:
    tags = {
        Preprocess(size=64).tag,
        Preprocess(size=32).tag,
        Preprocess(size=64, box=LFW_FACE_BOX).tag,
        Preprocess(size=32, box=LFW_FACE_BOX).tag,
        Preprocess(size=64, box=(0, 0, 250, 250)).tag,
        Preprocess(size=64, box=(61, 61, 189, 188)).tag,
    }
    assert len(tags) == 6
    assert Preprocess(size=64, box=LFW_FACE_BOX).tag == preprocess_for("lfw", 64).tag
    assert all("." not in tag and "/" not in tag for tag in tags)  # safe inside a file name with a suffix


def test_unknown_dataset_rejected() -> None:
    with pytest.raises(ValueError):
        preprocess_for("mnist")
    with pytest.raises(ValueError):
        augmentation_for("mnist")


def test_to_float_batch() -> None:
    images = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    images[1, :, :, 2] = 255
    batch = to_float_batch(images)
    assert batch.shape == (2, 3, 4, 5) and batch.dtype == torch.float32
    assert batch[1, 2].eq(1).all() and batch[1, :2].eq(0).all() and batch[0].eq(0).all()
    assert torch.equal(to_float_batch(torch.from_numpy(images)), batch)


# ------------------------------------------------------------------------------------------------ augmentation


def _random_batch(n: int = 16, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("dataset", ["lfw", "tt100k"])
def test_augmentation_is_the_identity_in_eval_mode(dataset: str) -> None:
    augment = augmentation_for(dataset).eval()
    x = _random_batch()
    assert torch.equal(augment(x), x)


@pytest.mark.parametrize("dataset", ["lfw", "tt100k"])
def test_augmentation_keeps_shape_and_range_and_changes_images(dataset: str) -> None:
    torch.manual_seed(0)
    augment = augmentation_for(dataset).train()
    x = _random_batch()
    y = augment(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert not torch.allclose(y, x, atol=1e-3)
    # Per image: each is jittered differently (not one transform for the whole batch).
    assert not torch.allclose(y[0] - x[0], y[1] - x[1], atol=1e-3)


def _half_white() -> torch.Tensor:
    """64 copies of a 32x32 image, left half white, right half black."""
    x = torch.zeros(64, 3, 32, 32)
    x[..., :16] = 1.0
    return x


def _no_jitter(hflip: bool) -> BatchAugment:
    return BatchAugment(hflip=hflip, max_rotate_deg=0, scale=(1, 1), max_shift=0, brightness=0, contrast=0).train()


def _mirrored(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image: True if y is x mirrored, False if y is x; fails if it is neither."""
    same = (y - x).abs().amax(dim=(1, 2, 3)) < 1e-4
    flipped = (y - x.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-4
    assert (same ^ flipped).all(), "every output must be the input or its mirror image"
    return flipped


def test_face_augmentation_mirrors_some_images() -> None:
    torch.manual_seed(0)
    x = _half_white()
    flipped = _mirrored(x, _no_jitter(hflip=True)(x))
    assert 10 <= int(flipped.sum()) <= 54  # about half of 64


def test_sign_augmentation_never_mirrors() -> None:
    torch.manual_seed(0)
    x = _half_white()
    for _ in range(3):
        flipped = _mirrored(x, _no_jitter(hflip=False)(x))
        assert not flipped.any()


def test_dataset_augmentations_mirror_faces_not_signs() -> None:
    assert augmentation_for("lfw").hflip is True
    assert augmentation_for("tt100k").hflip is False


def test_sign_augmentation_with_jitter_keeps_left_and_right() -> None:
    # With the real tt100k jitter (rotation, zoom, shift, colour), the bright side stays on the left.
    torch.manual_seed(0)
    x = _half_white()
    y = augmentation_for("tt100k").train()(x)
    left, right = y[..., :, :12].mean(dim=(1, 2, 3)), y[..., :, 20:].mean(dim=(1, 2, 3))
    assert (left > right).all()
    y = augmentation_for("lfw").train()(x)
    left, right = y[..., :, :12].mean(dim=(1, 2, 3)), y[..., :, 20:].mean(dim=(1, 2, 3))
    assert (left < right).any() and (left > right).any()


@pytest.mark.parametrize("dataset", ["lfw", "tt100k"])
def test_augmentation_stays_on_the_input_device(dataset: str) -> None:
    # The "meta" device stands in for a GPU: any tensor made on the CPU inside forward() clashes with it.
    x = torch.rand(4, 3, 16, 16, device="meta")
    y = augmentation_for(dataset).train()(x)
    assert y.device == x.device and y.shape == x.shape
