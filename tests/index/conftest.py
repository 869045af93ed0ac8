"""Fixtures for the index tests: a fake LFW with View 2 pairs, and an untrained run that saw only some of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.data.image_set import ImageSet

RUN_PEOPLE = ["Ada_Lovelace", "Alan_Turing", "Grace_Hopper", "Kurt_Goedel"]
UNSEEN_PEOPLE = ["Emmy_Noether", "John_Neumann", "Lise_Meitner", "Niels_Bohr", "Paul_Dirac", "Rosalind_Franklin", "Marie_Curie", "Max_Born"]
FOLDS, PER_FOLD = 10, 15


def write_pairs(lfw_dir: Path, people: list[str], per_person: int, seed: int = 0) -> None:
    """A ``pairs.txt`` of ``FOLDS`` folds, each ``PER_FOLD`` same-person then ``PER_FOLD`` different-person pairs."""
    rng = np.random.default_rng(seed)
    lines = [f"{FOLDS}\t{PER_FOLD}"]
    for _ in range(FOLDS):
        for _ in range(PER_FOLD):
            name = people[rng.integers(len(people))]
            a, b = rng.choice(np.arange(1, per_person + 1), size=2, replace=False)
            lines.append(f"{name}\t{a}\t{b}")
        for _ in range(PER_FOLD):
            i, j = rng.choice(len(people), size=2, replace=False)
            lines.append(f"{people[i]}\t{rng.integers(1, per_person + 1)}\t{people[j]}\t{rng.integers(1, per_person + 1)}")
    (lfw_dir / "pairs.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def index_world(tmp_path_factory: pytest.TempPathFactory, fake_lfw, fake_run):
    """``(data_dir, lfw ImageSet, run RunDir)``: a 12-person fake LFW with pairs of its 8 unseen people, and an
    untrained run whose split holds the other 4."""
    root = tmp_path_factory.mktemp("index-world")
    images: ImageSet = fake_lfw(root, people=RUN_PEOPLE + UNSEEN_PEOPLE)
    write_pairs(root / "lfw", UNSEEN_PEOPLE, per_person=len(images) // len(images.classes))
    seen = np.flatnonzero(images.labels < len(RUN_PEOPLE))
    run = fake_run(root / "run", images.subset(seen), dim=16)
    return root, images, run
