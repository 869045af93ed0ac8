"""Embedding networks: output shape and unit norm per backbone, offline ImageNet weights, helpful errors."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest
import torch
from torchvision import models

from model.networks import BACKBONES, EmbeddingNet, build_backbone
from model.networks.backbones import WeightsUnavailableError

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


def _images(n: int = 3, size: int = 64) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("backbone", ["small_cnn", "mobilenet_v2"])
@pytest.mark.parametrize("dim", [2, 64])
def test_unit_norm_embeddings(backbone: str, dim: int) -> None:
    torch.manual_seed(0)
    net = EmbeddingNet(backbone, dim=dim, pretrained=False)
    for mode in ("eval", "train"):
        getattr(net, mode)()
        with torch.no_grad():
            out = net(_images())
        assert out.shape == (3, dim), mode
        assert torch.isfinite(out).all(), mode
        assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5), mode
    # Different images, different embeddings (checked in training mode: an untrained MobileNetV2 in eval mode,
    # with its initial running statistics, shrinks every input to features of ~1e-9).
    assert not torch.allclose(out[0], out[1], atol=1e-4)


def test_training_mode_backpropagates_to_the_backbone() -> None:
    torch.manual_seed(0)
    net = EmbeddingNet("small_cnn", dim=8, pretrained=False).train()
    out = net(_images(4, 32))
    assert out.shape == (4, 8)
    out[:, 0].sum().backward()
    first_conv = next(p for p in net.backbone.parameters())
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0


def test_input_normalisation_is_not_saved_in_the_state_dict() -> None:
    net = EmbeddingNet("small_cnn", dim=4, pretrained=False)
    assert not any(key in net.state_dict() for key in ("mean", "std"))
    assert net.backbone_name == "small_cnn" and net.dim == 4


def test_vgg16_builds_and_runs() -> None:
    backbone, features = build_backbone("vgg16")
    assert features == 512
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 512)


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="resnet"):
        build_backbone("resnet")
    with pytest.raises(ValueError):
        EmbeddingNet("resnet", pretrained=False)
    assert set(BACKBONES) == {"small_cnn", "mobilenet_v2", "vgg16", "face_reid_0095"}


def _local_weights() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / MOBILENET_FILE


def test_pretrained_mobilenet_loads_imagenet_weights_offline() -> None:
    if not _local_weights().is_file():
        pytest.skip(f"{_local_weights()} not present (set TORCH_HOME to a folder holding hub/checkpoints/{MOBILENET_FILE})")
    state = torch.load(_local_weights(), map_location="cpu", weights_only=True)
    net = EmbeddingNet("mobilenet_v2", dim=64, pretrained=True).eval()
    features = net.backbone[0]  # the MobileNetV2 feature extractor
    assert torch.equal(features[0][0].weight, state["features.0.0.weight"])
    assert torch.equal(features[18][1].running_var, state["features.18.1.running_var"])
    with torch.no_grad():
        out = net(_images())
    assert out.shape == (3, 64)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert not torch.allclose(out[0], out[1], atol=1e-3)  # ImageNet features tell images apart in eval mode


def test_missing_weights_name_the_file_and_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args: object, **kwargs: object) -> dict:
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(models.MobileNet_V2_Weights, "get_state_dict", offline)
    with pytest.raises(WeightsUnavailableError) as error:
        EmbeddingNet("mobilenet_v2", dim=8, pretrained=True)
    message = str(error.value)
    assert MOBILENET_FILE in message
    assert "TORCH_HOME" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "--no-pretrained" in message
    assert isinstance(error.value.__cause__, urllib.error.URLError)
    assert not list(tmp_path.rglob("*.pth"))  # nothing was downloaded
    # Without pretrained weights nothing is fetched at all.
    assert EmbeddingNet("mobilenet_v2", dim=8, pretrained=False)(_images(2, 32)).shape == (2, 8)


def test_torch_home_points_at_the_checkpoints() -> None:
    # torch.hub.get_dir() follows TORCH_HOME, which is where the error message tells users to put the file.
    if "TORCH_HOME" not in os.environ:
        pytest.skip("TORCH_HOME not set")
    assert Path(torch.hub.get_dir()) == Path(os.environ["TORCH_HOME"]) / "hub"
