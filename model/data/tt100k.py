"""Tsinghua-Tencent 100K traffic signs (Zhu et al., CVPR 2016), as crops of the annotated boxes.

Layout under ``$DOPPELGANGER_DATA_DIR/tt100k``: ``{train,test}/<class>/<panorama>_<k>.jpg``. The crops of one
panorama come from one street scene, so the official train/test split is kept and any further split is made
by panorama. ``negative/`` (patches with no sign) is not a class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.data.image_set import ImageSet
from model.data.lfw import DatasetMissingError

SPLITS = ("train", "test")
NOT_A_CLASS = {"negative"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _files(tt100k_dir: Path, split: str) -> dict[str, list[str]]:
    root = Path(tt100k_dir) / split
    if not root.is_dir():
        raise DatasetMissingError(
            f"TT100K crops not found: {root} is missing. Put the crops in {Path(tt100k_dir)}/{{train,test}}/<class>/ "
            "(see docs/data.md), or set DOPPELGANGER_DATA_DIR to a folder holding tt100k/."
        )
    out = {}
    for cls in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in NOT_A_CLASS):
        files = sorted(f"{split}/{cls.name}/{f.name}" for f in cls.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            out[cls.name] = files
    return out


def panorama_of(path: str) -> str:
    """The panorama id of a crop: ``train/pn/10106_0.jpg`` -> ``10106``."""
    return Path(path).stem.rsplit("_", 1)[0]


def load_tt100k(tt100k_dir: Path, min_images: int = 20) -> tuple[ImageSet, ImageSet]:
    """The official train and test crops of the classes with at least ``min_images`` crops in both together.

    ``min_images=20`` gives 71 classes. Both sets share one list of class names; ``groups`` holds panorama ids.
    """
    per_split = {split: _files(tt100k_dir, split) for split in SPLITS}
    names = sorted(set(per_split["train"]) | set(per_split["test"]))
    kept = [n for n in names if sum(len(per_split[s].get(n, [])) for s in SPLITS) >= min_images]
    sets = []
    for split in SPLITS:
        paths, labels = [], []
        for label, name in enumerate(kept):
            files = per_split[split].get(name, [])
            paths.extend(files)
            labels.extend([label] * len(files))
        sets.append(
            ImageSet(
                root=Path(tt100k_dir),
                paths=paths,
                labels=np.asarray(labels, dtype=np.int64),
                classes=kept,
                groups=np.asarray([panorama_of(p) for p in paths]),
            )
        )
    return sets[0], sets[1]
