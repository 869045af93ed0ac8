"""``model.faces.crop``: each model's input made from a photo or a face frame, and the default model's
verification through it on real LFW pairs."""

from __future__ import annotations

import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.config import TrainConfig
from model.data.lfw import image_dir, read_pairs
from model.evaluation import kfold_verification
from model.faces.crop import AlignedCrop, FrameCrop, crop_for, template_face
from model.faces.detector import Face
from model.inference import embed_images
from model.networks import EmbeddingNet
from model.networks.backbones import FACE_INPUTS

DEFAULT_CONFIG = Path(__file__).parents[3] / "configs" / "default.toml"


def test_each_backbone_gets_its_own_crop() -> None:
    aligned = crop_for("lfw", 128, "face_reid_0095")
    assert isinstance(aligned, AlignedCrop) and aligned.size == 128
    np.testing.assert_allclose(aligned.template.landmarks, np.asarray(FACE_INPUTS["face_reid_0095"].landmarks) * 128)
    assert isinstance(crop_for("lfw", 64, "mobilenet_v2"), FrameCrop)
    with pytest.raises(ValueError, match="--image-size 128"):
        crop_for("lfw", 64, "face_reid_0095")
    with pytest.raises(ValueError, match="face model"):
        crop_for("tt100k", 128, "face_reid_0095")
    assert aligned.tag != crop_for("lfw", 128, "mobilenet_v2").tag


def test_a_face_lands_on_the_backbone_template() -> None:
    """Five coloured dots stand for the landmarks of a face turned 20 degrees, at three times the crop's scale,
    off-centre in a photo: after the crop, each dot's centre is where the backbone's template puts it."""
    crop = crop_for("lfw", 128, "face_reid_0095")
    angle = np.radians(20.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (crop.template.landmarks - 64.0) @ rotation.T * 3.0 + [400.0, 260.0]
    photo = Image.new("RGB", (800, 600), (0, 0, 0))
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    pixels = np.asarray(photo).copy()
    yy, xx = np.mgrid[0:600, 0:800]
    for (x, y), colour in zip(landmarks, colours):
        pixels[(xx - x) ** 2 + (yy - y) ** 2 <= 36] = colour
    face = Face((0.0, 0.0, 800.0, 600.0), 1.0, landmarks)
    out = crop.from_face(Image.fromarray(pixels), face).astype(np.float64)
    assert out.shape == (128, 128, 3)
    ys, xs = np.mgrid[0:128, 0:128]
    for (x, y), colour in zip(crop.template.landmarks, colours):
        near = np.linalg.norm(out - colour, axis=2) < 100  # the dot's own pixels, blends with black included
        near &= np.abs(out - colour)[..., [c for c, v in enumerate(colour) if v == 0]].max(axis=2, initial=0) < 40
        centre = np.array([xs[near].mean(), ys[near].mean()])
        assert np.linalg.norm(centre - (x, y)) < 0.5, (colour, centre, (x, y))


def test_a_frame_without_a_detected_face_falls_back_to_lfw_framing() -> None:
    crop = crop_for("lfw", 128, "face_reid_0095")
    frame = Image.new("RGB", (250, 250), (90, 90, 90))
    frame.paste((200, 150, 120), (90, 80, 160, 190))
    np.testing.assert_array_equal(crop(frame), crop.from_face(frame, template_face(frame)))
    np.testing.assert_array_equal(crop(frame, detect=False), crop(frame))


def test_a_crop_travels_to_worker_processes_without_its_detector() -> None:
    crop = crop_for("lfw", 128, "face_reid_0095")
    crop(Image.new("RGB", (250, 250)))  # builds a detector in this process
    copy = pickle.loads(pickle.dumps(crop))
    assert copy == crop and copy._detector == [] and copy.tag == crop.tag


@pytest.mark.slow
def test_the_default_model_verifies_view2_pairs(data_dir: Path, weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The served configuration, through its crop, on a fixed 10% of View 2 (fold 1's first 60 matched and 60
    mismatched pairs): what `make run` serves must tell these people apart."""
    monkeypatch.setenv("DOPPELGANGER_WEIGHTS_DIR", str(weights_dir))
    from model.settings import get_settings

    get_settings.cache_clear()
    config = TrainConfig.from_dict(tomllib.loads(DEFAULT_CONFIG.read_text()))
    torch.manual_seed(0)
    net = EmbeddingNet.from_config(config)
    get_settings.cache_clear()
    pairs = read_pairs(data_dir / "lfw" / "pairs.txt")
    chosen = np.r_[600:660, 900:960]  # fold 1: matched pairs first, then mismatched
    crop = crop_for("lfw", config.image_size, config.backbone)
    root = image_dir(data_dir / "lfw")
    paths = sorted({p for i in chosen for p in (pairs.left[i], pairs.right[i])})
    with torch.inference_mode():
        vectors = dict(zip(paths, embed_images(net, np.stack([crop(Image.open(root / p)) for p in paths]))))
    distances = np.array([np.linalg.norm(vectors[pairs.left[i]] - vectors[pairs.right[i]]) for i in chosen])
    same = pairs.same[chosen]
    result = kfold_verification(distances, same, np.arange(len(chosen)) % 4)
    assert result["auc"] > 0.99 and result["acc"] >= 0.96, result
