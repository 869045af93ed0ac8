"""``ImageSet``: labelled image files under one root, the common currency of the data modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ImageSet:
    """Images as paths relative to ``root``, with an integer label each and the class names.

    ``groups`` (optional) names the capture an image came from, such as the TT100K panorama: images of one group
    must never be split across train and test.
    """

    root: Path
    paths: list[str]
    labels: np.ndarray
    classes: list[str]
    groups: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.labels):
            raise ValueError("paths and labels differ in length")
        if self.groups is not None and len(self.groups) != len(self.paths):
            raise ValueError("paths and groups differ in length")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: np.ndarray) -> "ImageSet":
        """The images at ``indices``, keeping every class name (labels stay comparable across subsets)."""
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet(
            root=self.root,
            paths=[self.paths[i] for i in indices],
            labels=self.labels[indices],
            classes=self.classes,
            groups=None if self.groups is None else self.groups[indices],
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)
