"""Labeled Faces in the Wild (Huang et al., 2007), read from its official layout and protocol files.

Layout under the LFW directory (``$DOPPELGANGER_DATA_DIR/lfw``)::

    lfw-deepfunneled/<Name>/<Name>_NNNN.jpg   (or the plain lfw/ layout)
    people.txt  peopleDevTrain.txt  peopleDevTest.txt
    pairs.txt   pairsDevTrain.txt   pairsDevTest.txt

``doppelganger data download lfw`` fetches all of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from model.data.image_set import ImageSet

IMAGE_DIRS = ("lfw-deepfunneled", "lfw")
"""Image folders we read, in order of preference: the deep-funneled (aligned) crops, then the plain ones."""


class DatasetMissingError(FileNotFoundError):
    """A dataset is not where the settings say; the message tells how to get it."""


def image_dir(lfw_dir: Path) -> Path:
    """The folder of per-person image folders, preferring the deep-funneled images."""
    for name in IMAGE_DIRS:
        if (Path(lfw_dir) / name).is_dir():
            return Path(lfw_dir) / name
    raise DatasetMissingError(
        f"LFW images not found under {lfw_dir} (looked for {' or '.join(IMAGE_DIRS)}/). "
        "Run `doppelganger data download lfw`, or set DOPPELGANGER_DATA_DIR to a folder holding lfw/."
    )


def image_path(name: str, number: int) -> str:
    """The path of one LFW image relative to the image folder, as the protocol files number them."""
    return f"{name}/{name}_{number:04d}.jpg"


def list_people(lfw_dir: Path) -> dict[str, list[str]]:
    """Every person in the image folder with their image paths (relative, sorted)."""
    root = image_dir(lfw_dir)
    people = {}
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f"{person.name}/{f.name}" for f in person.iterdir() if f.suffix.lower() == ".jpg")
        if files:
            people[person.name] = files
    return people


def read_people_file(path: Path) -> list[str]:
    """The names listed in a ``people*.txt`` file (the 10-fold ``people.txt`` is flattened)."""
    names = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not fields[0].isdigit():
            names.append(fields[0])
    return names


def load_lfw(lfw_dir: Path, min_images: int = 1, people_file: str | None = None) -> ImageSet:
    """The people with at least ``min_images`` images, optionally restricted to those in ``people_file``.

    ``min_images=20`` gives the 62 people (3,023 images) of the classic closed-set task, ``10`` gives 158.
    ``people_file="peopleDevTrain.txt"`` keeps only the DevTrain identities (disjoint from DevTest).
    """
    people = list_people(lfw_dir)
    if people_file is not None:
        allowed = set(read_people_file(Path(lfw_dir) / people_file))
        people = {name: files for name, files in people.items() if name in allowed}
    kept = [name for name, files in people.items() if len(files) >= min_images]
    paths, labels = [], []
    for label, name in enumerate(kept):
        paths.extend(people[name])
        labels.extend([label] * len(people[name]))
    return ImageSet(root=image_dir(lfw_dir), paths=paths, labels=np.asarray(labels, dtype=np.int64), classes=kept)


@dataclass(frozen=True)
class Pairs:
    """Verification pairs: two image paths (relative to the image folder), same person or not, and the fold."""

    left: list[str]
    right: list[str]
    same: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.left)


def read_pairs(path: Path) -> Pairs:
    """Read ``pairs.txt`` (10 folds of 300 matched then 300 mismatched pairs) or ``pairsDev*.txt`` (one fold).

    A matched line is ``name n1 n2``, a mismatched one ``name1 n1 name2 n2``.
    """
    lines = Path(path).read_text().split("\n")
    header = lines[0].split()
    folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * per_fold * 2:
        raise ValueError(f"{path}: expected {folds * per_fold * 2} pairs, found {len(rows)}")
    left, right, same, fold = [], [], [], []
    for i, fields in enumerate(rows):
        if len(fields) == 3:
            left.append(image_path(fields[0], int(fields[1])))
            right.append(image_path(fields[0], int(fields[2])))
            same.append(True)
        elif len(fields) == 4:
            left.append(image_path(fields[0], int(fields[1])))
            right.append(image_path(fields[2], int(fields[3])))
            same.append(False)
        else:
            raise ValueError(f"{path}: line {i + 2} is not a pair: {' '.join(fields)!r}")
        fold.append(i // (2 * per_fold))
    return Pairs(left=left, right=right, same=np.asarray(same), fold=np.asarray(fold, dtype=np.int64))


def unseen_pairs(pairs: Pairs, trained_people: Iterable[str]) -> np.ndarray:
    """Indices of the pairs whose people, on both sides, are not in ``trained_people``: the pairs that measure how
    a model does on faces it never saw."""
    trained = set(trained_people)
    return np.array(
        [
            i for i, (a, b) in enumerate(zip(pairs.left, pairs.right))
            if a.split("/")[0] not in trained and b.split("/")[0] not in trained
        ],
        dtype=np.int64,
    )
