"""What a training run can be told: the choices, the ``TrainConfig`` and its command-line flags.

This module imports nothing heavy, so ``doppelganger --help`` answers at once; the modules that implement each
choice (``model.data.tasks``, ``model.networks``, ``model.losses``) check their names against these tuples.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from typing import Any

DATASETS = ("lfw", "tt100k")
LFW_PROTOCOLS = ("closed", "devtrain")
BACKBONES = ("small_cnn", "mobilenet_v2", "vgg16")
LOSSES = ("contrastive",)
"""The losses ``doppelganger train`` can train with."""
PAIRS = ("batch", "drawn")


@dataclass
class TrainConfig:
    """Every choice a training run makes. Defaults are the default model's."""

    dataset: str = "lfw"
    min_images: int = 20
    protocol: str = "closed"
    loss: str = "contrastive"
    margin: float = 1.0
    pairs: str = "batch"
    backbone: str = "mobilenet_v2"
    pretrained: bool = True
    dim: int = 64
    image_size: int = 64
    epochs: int = 12
    batch_size: int = 64
    pairs_per_epoch: int = 2048
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def default_run_name(self) -> str:
        subset = f"{self.min_images}" if self.protocol == "closed" else f"{self.protocol}{self.min_images}"
        return f"{self.dataset}{subset}-{self.loss}-{self.backbone}-d{self.dim}-s{self.seed}"


_FLAGS = {
    "dataset": ("dataset to learn from", {"choices": DATASETS}),
    "min_images": ("keep classes with at least this many images (LFW: 20 gives 62 people, 10 gives 158; TT100K: 20 gives 71 classes)", {"type": int}),
    "protocol": ("LFW only: 'closed' splits the kept people's images; 'devtrain' trains on DevTrain identities and tests on the unseen DevTest ones", {"choices": LFW_PROTOCOLS}),
    "loss": ("metric loss", {"choices": LOSSES}),
    "pairs": ("'batch': the loss covers every pair of images in the batch (the sampled pairs fill it); 'drawn': only the sampled pairs", {"choices": PAIRS}),
    "margin": ("margin of the loss (embeddings are unit length: distances lie in [0, 2])", {"type": float}),
    "backbone": ("network body; mobilenet_v2 starts from ImageNet weights, the others from scratch", {"choices": BACKBONES}),
    "dim": ("embedding dimension (2, 16, 32, 64, 128, ...)", {"type": int}),
    "image_size": ("model input size in pixels (images are resized to it once and cached)", {"type": int}),
    "epochs": ("training epochs", {"type": int}),
    "batch_size": ("pairs per batch (a batch embeds twice as many images)", {"type": int}),
    "pairs_per_epoch": ("balanced pairs drawn afresh each epoch", {"type": int}),
    "lr": ("peak learning rate of AdamW (linear warm-up, then cosine decay)", {"type": float}),
    "weight_decay": ("AdamW weight decay", {"type": float}),
    "seed": ("seed of the split, the pairs, the augmentation and the initial weights", {"type": int}),
    "threads": ("CPU threads for PyTorch (0: every core)", {"type": int}),
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--config", help="a JSON or TOML file of the settings below (flags override it)")
    for name, (text, extra) in _FLAGS.items():
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
            help=f"{text} (default: {getattr(defaults, name)})", **extra,
        )
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false", default=argparse.SUPPRESS,
                        help="start mobilenet_v2 from random weights instead of ImageNet")
    parser.add_argument("--out", help="run directory (default: $DOPPELGANGER_RUNS_DIR/<dataset><subset>-<loss>-<backbone>-d<dim>-s<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")


TRAIN_FLAGS = tuple(_FLAGS) + ("pretrained",)
"""The ``TrainConfig`` fields that flags can set."""
