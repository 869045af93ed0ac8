"""Seeded train/validation/test splits, saved with each run so every later step sees the very same images.

- Closed-set tasks split by image, stratified by class: every class appears in every part.
- When images carry a group (a TT100K panorama), a group never straddles two parts.
- Open-set tasks (LFW DevTrain) hold out whole identities for validation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from model.data.image_set import ImageSet

PARTS = ("train", "val", "test")


def stratified_split(labels: np.ndarray, fractions: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Indices of train, val and test, stratified by label (each part holds about its fraction of each class)."""
    labels = np.asarray(labels)
    train_f, val_f, test_f = fractions
    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=test_f, stratify=labels, random_state=seed)
    train, val = train_test_split(
        rest, test_size=val_f / (train_f + val_f), stratify=labels[rest], random_state=seed
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def grouped_holdout(labels: np.ndarray, groups: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held out) indices: about ``holdout`` of the images, stratified by label, whole groups only."""
    n_splits = max(2, round(1 / holdout))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    keep, held = next(folds.split(np.zeros(len(labels)), labels, groups))
    return np.sort(keep), np.sort(held)


def identity_holdout(labels: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held out) indices, holding out about ``holdout`` of the classes with all their images."""
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    held_classes = rng.choice(classes, size=max(1, round(holdout * len(classes))), replace=False)
    held = np.isin(labels, held_classes)
    return np.flatnonzero(~held), np.flatnonzero(held)


def save_split(path: Path, dataset: str, parts: dict[str, ImageSet]) -> None:
    """Write the parts as JSON: relative paths and labels per part, class names, dataset and image root."""
    first = next(iter(parts.values()))
    payload = {
        "dataset": dataset,
        "root": str(first.root),
        "classes": first.classes,
        "parts": {
            name: {
                "paths": part.paths,
                "labels": part.labels.tolist(),
                **({} if part.classes is first.classes else {"classes": part.classes}),
            }
            for name, part in parts.items()
        },
    }
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def load_split(path: Path, root: Path | None = None) -> tuple[str, dict[str, ImageSet]]:
    """The dataset name and the parts saved by :func:`save_split`; ``root`` overrides the saved image root."""
    payload = json.loads(Path(path).read_text())
    base = Path(root) if root is not None else Path(payload["root"])
    parts = {
        name: ImageSet(
            root=base,
            paths=part["paths"],
            labels=np.asarray(part["labels"], dtype=np.int64),
            classes=part.get("classes", payload["classes"]),
        )
        for name, part in payload["parts"].items()
    }
    return payload["dataset"], parts
