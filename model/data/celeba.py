"""CelebA-10k: extra people to train face models with (``../shared/data/celeba10k``: ``<identity>/<file>.jpg``).

A subset of CelebA (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015): 9,682 photos
of 5,262 people in CelebA's own alignment, 89x109. For training only (``--extra-data celeba10k``): it is not an
evaluation set, and CelebA is for non-commercial research.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.data.image_set import ImageSet
from model.data.lfw import DatasetMissingError

FOLDER = "celeba10k"


def load_celeba(celeba_dir: Path, min_images: int = 2) -> ImageSet:
    """The people of ``celeba_dir`` with at least ``min_images`` photos; classes are named ``celeba/<identity>``."""
    celeba_dir = Path(celeba_dir)
    if not celeba_dir.is_dir():
        raise DatasetMissingError(
            f"{celeba_dir} does not exist: --extra-data celeba10k needs CelebA-10k there (<identity>/<file>.jpg), "
            "or set DOPPELGANGER_DATA_DIR to a folder holding celeba10k/"
        )
    paths, labels, classes = [], [], []
    for person in sorted(p for p in celeba_dir.iterdir() if p.is_dir()):
        files = sorted(f.name for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if len(files) < min_images:
            continue
        paths.extend(f"{person.name}/{name}" for name in files)
        labels.extend([len(classes)] * len(files))
        classes.append(f"celeba/{person.name}")
    return ImageSet(root=celeba_dir, paths=paths, labels=np.asarray(labels, dtype=np.int64), classes=classes)


def join(base: ImageSet, extra: ImageSet) -> ImageSet:
    """``base`` and ``extra`` as one set under ``base.root`` (``extra``'s paths made relative to it), with
    ``extra``'s labels after ``base``'s classes."""
    prefix = Path(_relative(extra.root, base.root))
    return ImageSet(
        root=base.root,
        paths=base.paths + [str(prefix / p) for p in extra.paths],
        labels=np.concatenate([base.labels, extra.labels + base.num_classes]),
        classes=base.classes + extra.classes,
    )


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(Path(path).resolve(), Path(start).resolve())
