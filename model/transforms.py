"""Preprocessing (one place per dataset) and training augmentation that respects the data.

Preprocessing turns a decoded image into the uint8 array the network and the cache see:

- LFW: the 250x250 deep-funneled frame holds a face box enlarged 2.2x around the face, so the face fills the
  centre; we crop that centre (``LFW_FACE_BOX``) and resize it to the model input (64x64 by default).
- TT100K: the crop already is the sign; we resize it.

Augmentation runs on whole batches of float tensors (one ``grid_sample`` call per batch), so it costs little
on a CPU. Faces may be mirrored; signs may not (a mirrored "turn left" is a "turn right").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

LFW_FRAME = 250
LFW_FACE_BOX = (61, 61, 189, 189)
"""(x0, y0, x1, y1) of the face region in LFW's 250x250 frame: the central 128x128, a little more than the
~114 px Viola-Jones box (250 / 2.2) so the whole face, chin and forehead included, is kept."""

DEFAULT_SIZE = 64


@dataclass(frozen=True)
class Preprocess:
    """Decode-side preprocessing: optional crop box (in the source frame), then resize to ``size`` x ``size``."""

    size: int = DEFAULT_SIZE
    box: tuple[int, int, int, int] | None = None

    @property
    def tag(self) -> str:
        """A short name for cache files: two preprocessings with the same tag give the same arrays."""
        box = "full" if self.box is None else "box" + "-".join(map(str, self.box))
        return f"{box}-{self.size}"

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image.convert("RGB")
        if self.box is not None:
            image = image.crop(self.box)
        image = image.resize((self.size, self.size), Image.Resampling.BILINEAR, reducing_gap=None)
        return np.asarray(image, dtype=np.uint8)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """A uint8 (H, W, 3) image resized to ``size`` x ``size`` (bilinear, as ``Preprocess`` resizes)."""
    if image.shape[0] == size and image.shape[1] == size:
        return np.asarray(image, dtype=np.uint8)
    resized = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(resized, dtype=np.uint8)


@dataclass(frozen=True)
class Resized:
    """Another crop's output resized to ``size``: a student network fed its teacher's aligned faces at its own,
    smaller input size (``model.data.tasks.input_crop``). Takes what the wrapped crop takes (a frame, or a photo
    and a detected face with ``from_face``), so the cache, the index and the app use it as they use that crop."""

    crop: object
    """A ``model.faces.crop`` crop (``size``, ``tag``, ``__call__(frame, detect)``, ``from_face(image, face)``)."""
    size: int

    @property
    def tag(self) -> str:
        return f"{self.crop.tag}-to{self.size}"

    def __call__(self, frame: Image.Image, detect: bool = True) -> np.ndarray:
        return resize_image(self.crop(frame, detect=detect), self.size)

    def from_face(self, image: Image.Image, face) -> np.ndarray:
        return resize_image(self.crop.from_face(image, face), self.size)


def preprocess_for(dataset: str, size: int = DEFAULT_SIZE) -> Preprocess:
    """The preprocessing of ``dataset`` ("lfw" or "tt100k") at input size ``size``."""
    if dataset == "lfw":
        return Preprocess(size=size, box=LFW_FACE_BOX)
    if dataset == "tt100k":
        return Preprocess(size=size)
    raise ValueError(f"unknown dataset {dataset!r}")


def to_float_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W, 3) -> float tensor (N, 3, H, W) in [0, 1], the input the networks take."""
    batch = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


class BatchAugment(nn.Module):
    """Random affine jitter (rotation, scale, shift), optional mirror, brightness and contrast, per image.

    Works on a float batch (N, 3, H, W) in [0, 1]; the identity in eval mode.
    """

    def __init__(
        self,
        hflip: bool,
        max_rotate_deg: float = 10.0,
        scale: tuple[float, float] = (0.9, 1.1),
        max_shift: float = 0.06,
        brightness: float = 0.2,
        contrast: float = 0.2,
    ) -> None:
        super().__init__()
        self.hflip = hflip
        self.max_rotate = math.radians(max_rotate_deg)
        self.scale = scale
        self.max_shift = max_shift
        self.brightness = brightness
        self.contrast = contrast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n = x.shape[0]

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.empty(n, device=x.device).uniform_(low, high)

        angle = uniform(-self.max_rotate, self.max_rotate)
        zoom = uniform(*self.scale)
        mirror = torch.where(torch.rand(n, device=x.device) < 0.5, -1.0, 1.0) if self.hflip else torch.ones(n, device=x.device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [
                torch.stack([cos * mirror, -sin, uniform(-self.max_shift, self.max_shift) * 2], dim=1),
                torch.stack([sin * mirror, cos, uniform(-self.max_shift, self.max_shift) * 2], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        gain = uniform(1 - self.contrast, 1 + self.contrast).view(n, 1, 1, 1)
        shift = uniform(-self.brightness, self.brightness).view(n, 1, 1, 1) * 0.5
        return ((x - mean) * gain + mean + shift).clamp_(0.0, 1.0)


def augmentation_for(dataset: str) -> BatchAugment:
    """Training augmentation of ``dataset``: faces are mirrored, signs never are."""
    if dataset == "lfw":
        return BatchAugment(hflip=True)
    if dataset == "tt100k":
        return BatchAugment(hflip=False, max_rotate_deg=8.0)
    raise ValueError(f"unknown dataset {dataset!r}")
