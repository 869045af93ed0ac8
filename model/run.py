"""A run directory: everything one training run writes, and everything later steps read back.

::

    RUN_DIR/config.json        the TrainConfig, complete (flags and config file merged)
    RUN_DIR/split.json         the train/val/test parts (relative paths and labels)
    RUN_DIR/checkpoints/       last.pt (resumable: model, optimiser, schedule, epoch), best.pt (model only)
    RUN_DIR/metrics.jsonl      one JSON line per epoch
    RUN_DIR/tensorboard/       the same scalars for TensorBoard
    RUN_DIR/teacher.json       a distilled run's teacher and its SHA-256 (``model.teacher``)
    RUN_DIR/eval.json, eval.md written by ``doppelganger evaluate``
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from model.config import TrainConfig
from model.data.image_set import ImageSet
from model.data.splits import load_split
from model.networks import EmbeddingNet


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write aside, then rename: a crash mid-save leaves the previous file whole."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class RunDir:
    """Paths and readers of one run directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.json")
    split_file = property(lambda self: self.path / "split.json")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    checkpoints = property(lambda self: self.path / "checkpoints")
    tensorboard = property(lambda self: self.path / "tensorboard")
    teacher_file = property(lambda self: self.path / "teacher.json")
    eval_json = property(lambda self: self.path / "eval.json")
    eval_md = property(lambda self: self.path / "eval.md")

    def checkpoint(self, which: str = "best") -> Path:
        return self.checkpoints / f"{which}.pt"

    def exists(self) -> bool:
        return self.config_file.exists()

    def config(self) -> TrainConfig:
        return TrainConfig.from_saved(json.loads(self.config_file.read_text()))

    def write_config(self, config: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def split(self, root: Path | None = None) -> dict[str, ImageSet]:
        return load_split(self.split_file, root=root)[1]

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_file.exists():
            return []
        records = [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line.strip()]
        latest = {record["epoch"]: record for record in records}  # a resumed run repeats an epoch: the last wins
        return [latest[epoch] for epoch in sorted(latest)]

    def load_model(self, which: str = "best", device: str = "cpu") -> EmbeddingNet:
        """The trained embedding network, in eval mode (no ImageNet weights needed: the checkpoint has all)."""
        config = self.config()
        net = EmbeddingNet.from_config(config, pretrained=False)
        state = torch.load(self.checkpoint(which), map_location=device, weights_only=True)
        net.load_state_dict(state["model"])
        return net.eval()
