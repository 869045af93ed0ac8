"""Backbones that turn a (N, 3, H, W) image batch into (N, F) features.

- ``small_cnn``: four conv blocks trained from scratch.
- ``mobilenet_v2``: torchvision's MobileNetV2 (Sandler et al., CVPR 2018) from its ImageNet weights, which load
  offline from ``$TORCH_HOME/hub/checkpoints/``.
- ``vgg16``: VGG-16 with batch norm (Simonyan & Zisserman, ICLR 2015), as in the course exercise. No VGG weights
  are available offline, so it starts from scratch, and at 138M parameters it is slow on a CPU.
- ``face_reid_0095``: Intel Open Model Zoo's ``face-reidentification-retail-0095`` (a MobileFaceNet-like network,
  Chen et al., "MobileFaceNets", CCBR 2018), pretrained for faces, 256-d. Its OpenVINO graph is rebuilt in PyTorch
  (``OpenVinoIRNet``), so our losses can fine-tune it. It takes faces aligned on five landmarks
  (``FACE_INPUTS``), which ``model.faces.crop`` makes.

Every backbone takes float RGB images in [0, 1]; ``IMAGENET_BACKBONES`` expect ImageNet's normalisation, which
``EmbeddingNet`` applies; a face backbone converts to its own input convention itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from model.config import BACKBONES
from model.networks.openvino_ir import OpenVinoIRNet
from model.pretrained import WeightsUnavailableError, model_file


IMAGENET_BACKBONES = ("small_cnn", "mobilenet_v2", "vgg16")
"""Backbones of ImageNet-normalised input, fed the centre of LFW's frame (``model.transforms``)."""


@dataclass(frozen=True)
class FaceInput:
    """What a face backbone was trained on: ``size`` x ``size`` crops aligned by a similarity transform of the five
    landmarks (left eye, right eye, nose tip, left and right mouth corner, as seen in the image) onto
    ``landmarks``, given in fractions of the crop's side."""

    size: int
    landmarks: tuple[tuple[float, float], ...]


FACE_INPUTS = {
    # Open Model Zoo's face recognition demo (``face_identifier.py``, REFERENCE_LANDMARKS), as fractions of 128.
    "face_reid_0095": FaceInput(128, ((0.31556875, 0.4615741), (0.68262291, 0.4615741), (0.50026249, 0.64050535),
                                      (0.34947187, 0.8246919), (0.65343645, 0.8246919))),
}
"""The aligned input of each face backbone."""

FACE_MODELS = {"face_reid_0095": "face-reidentification-retail-0095"}
"""The pretrained model (``model.pretrained.MODELS``) each face backbone is built from: its files are its
identity (a distilled run's teacher cache is keyed by their SHA-256)."""


class OpenVinoFaceBackbone(nn.Module):
    """An Open Model Zoo face network: RGB in [0, 1] becomes the BGR 0-255 input it was trained on; out come its
    features, flattened."""

    def __init__(self, model_name: str) -> None:
        super().__init__()
        self.net = OpenVinoIRNet(model_file(model_name))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flip(1) * 255.0).flatten(1)


def face_reid_0095() -> tuple[nn.Module, int]:
    return OpenVinoFaceBackbone(FACE_MODELS["face_reid_0095"]), 256


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def small_cnn() -> tuple[nn.Module, int]:
    body = nn.Sequential(
        _conv_block(3, 32), _conv_block(32, 64), _conv_block(64, 128), _conv_block(128, 256),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return body, 256


def _imagenet_weights(weights: models.WeightsEnum) -> dict[str, torch.Tensor]:
    """Load torchvision weights from ``$TORCH_HOME``, downloading only when they are missing."""
    filename = Path(weights.url).name
    local = Path(torch.hub.get_dir()) / "checkpoints" / filename
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as error:  # urllib raises several types when offline
        raise WeightsUnavailableError(
            f"ImageNet weights {filename} are not in {local.parent} and could not be downloaded ({error}). "
            f"Download {weights.url} and put it at {local} (or set TORCH_HOME to a folder holding "
            f"hub/checkpoints/{filename}), or train with --no-pretrained."
        ) from error


def mobilenet_v2(pretrained: bool = True) -> tuple[nn.Module, int]:
    net = models.mobilenet_v2()
    if pretrained:
        net.load_state_dict(_imagenet_weights(models.MobileNet_V2_Weights.IMAGENET1K_V1))
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), net.last_channel


def vgg16() -> tuple[nn.Module, int]:
    net = models.vgg16_bn()
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 512


def build_backbone(name: str, pretrained: bool = True) -> tuple[nn.Module, int]:
    """The backbone called ``name`` and the width of its features."""
    if name == "small_cnn":
        return small_cnn()
    if name == "mobilenet_v2":
        return mobilenet_v2(pretrained)
    if name == "vgg16":
        return vgg16()
    if name == "face_reid_0095":
        return face_reid_0095()
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
