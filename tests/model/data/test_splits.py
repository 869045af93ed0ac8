"""Seeded splits (stratified, grouped, by identity), their JSON round trip, and the real tasks' leakage rules."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from model.data.image_set import ImageSet
from model.data.splits import PARTS, grouped_holdout, identity_holdout, load_split, save_split, stratified_split
from model.data.tasks import make_parts
from model.data.tt100k import panorama_of

FRACTIONS = (0.7, 0.1, 0.2)


def _labels(seed: int = 0) -> np.ndarray:
    """12 classes of 10 to 40 images each, shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(12), rng.integers(10, 41, size=12))
    return rng.permutation(labels)


def _image_set(labels: np.ndarray, root: Path = Path("/images")) -> ImageSet:
    classes = [f"class_{c}" for c in range(int(labels.max()) + 1)]
    paths = [f"{classes[label]}/{i:04d}.jpg" for i, label in enumerate(labels)]
    return ImageSet(root=root, paths=paths, labels=np.asarray(labels, dtype=np.int64), classes=classes)


# ------------------------------------------------------------------------------------------ stratified_split


def test_stratified_split_is_seeded() -> None:
    labels = _labels()
    a, b, c = (stratified_split(labels, FRACTIONS, seed) for seed in (3, 3, 4))
    for part in PARTS:
        assert np.array_equal(a[part], b[part])
    assert any(not np.array_equal(a[part], c[part]) for part in PARTS)


def test_stratified_split_is_a_partition() -> None:
    labels = _labels()
    split = stratified_split(labels, FRACTIONS, seed=0)
    assert set(split) == set(PARTS)
    for x, y in itertools.combinations(PARTS, 2):
        assert np.intersect1d(split[x], split[y]).size == 0
    everything = np.concatenate([split[p] for p in PARTS])
    assert np.array_equal(np.sort(everything), np.arange(len(labels)))
    assert all(np.array_equal(split[p], np.sort(split[p])) for p in PARTS)


def test_stratified_split_fractions_and_every_class_everywhere() -> None:
    labels = _labels()
    split = stratified_split(labels, FRACTIONS, seed=0)
    n = len(labels)
    for part, fraction in zip(PARTS, FRACTIONS):
        assert abs(len(split[part]) - fraction * n) <= 0.02 * n + 1
        # Classes have >= 10 images, so even the 10% validation part holds each class at least once.
        assert set(labels[split[part]].tolist()) == set(range(12)), part
        # Stratified: each class's share of the part is close to its share of the whole.
        whole = np.bincount(labels, minlength=12) / n
        share = np.bincount(labels[split[part]], minlength=12) / len(split[part])
        assert np.abs(share - whole).max() < 0.05


# ------------------------------------------------------------------------------------------ grouped_holdout


def _grouped(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """300 images in 120 groups of 1-5; each group mostly one of 6 labels, some mixed (like a street scene)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, size=120)
    groups = np.repeat(np.arange(120), sizes)
    labels = rng.integers(0, 6, size=120)[groups]
    mixed = rng.random(len(labels)) < 0.2
    labels[mixed] = rng.integers(0, 6, size=int(mixed.sum()))
    return labels, np.asarray([f"pano{g}" for g in groups])


def test_grouped_holdout_never_splits_a_group() -> None:
    labels, groups = _grouped()
    for seed in range(5):
        keep, held = grouped_holdout(labels, groups, 0.15, seed)
        assert set(groups[keep].tolist()).isdisjoint(groups[held].tolist())
        assert np.intersect1d(keep, held).size == 0
        assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(labels)))
        assert 0.05 < len(held) / len(labels) < 0.3  # about 1/round(1/0.15) = 1/7


def test_grouped_holdout_is_seeded() -> None:
    labels, groups = _grouped()
    a = grouped_holdout(labels, groups, 0.15, 1)
    b = grouped_holdout(labels, groups, 0.15, 1)
    c = grouped_holdout(labels, groups, 0.15, 2)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_identity_holdout_holds_out_whole_classes() -> None:
    labels = _labels()
    keep, held = identity_holdout(labels, 0.25, seed=0)
    assert set(labels[keep].tolist()).isdisjoint(labels[held].tolist())
    assert len(set(labels[held].tolist())) == 3  # round(0.25 * 12)
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(labels)))
    assert np.array_equal(identity_holdout(labels, 0.25, seed=0)[1], held)


# ------------------------------------------------------------------------------------------ save / load


def test_save_load_round_trip(tmp_path: Path) -> None:
    images = _image_set(_labels(), root=tmp_path / "images")
    parts = {name: images.subset(idx) for name, idx in stratified_split(images.labels, FRACTIONS, 0).items()}
    path = tmp_path / "split.json"
    save_split(path, "lfw", parts)
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["split.json"]  # no temporary file left
    dataset, loaded = load_split(path)
    assert dataset == "lfw"
    assert list(loaded) == list(parts)
    for name, part in parts.items():
        assert loaded[name].root == tmp_path / "images"
        assert loaded[name].paths == part.paths
        assert loaded[name].labels.dtype == np.int64
        assert np.array_equal(loaded[name].labels, part.labels)
        assert loaded[name].classes == part.classes
    _, moved = load_split(path, root=tmp_path / "elsewhere")
    assert all(part.root == tmp_path / "elsewhere" for part in moved.values())
    assert moved["test"].paths == parts["test"].paths


def test_save_load_keeps_a_part_with_its_own_classes(tmp_path: Path) -> None:
    # The LFW devtrain task tests on other identities, with their own class list.
    train = _image_set(np.array([0, 0, 1, 1]))
    test = ImageSet(root=train.root, paths=["z/1.jpg", "y/1.jpg"], labels=np.array([0, 1]), classes=["z", "y"])
    save_split(tmp_path / "split.json", "lfw", {"train": train, "test": test})
    _, loaded = load_split(tmp_path / "split.json")
    assert loaded["train"].classes == ["class_0", "class_1"]
    assert loaded["test"].classes == ["z", "y"]
    assert loaded["test"].paths == ["z/1.jpg", "y/1.jpg"]


# ------------------------------------------------------------------------------------------ real tasks


@pytest.fixture(scope="module")
def data_dir() -> Path:
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    if not root or not (Path(root) / "lfw").is_dir() or not (Path(root) / "tt100k").is_dir():
        pytest.skip("real data not available (set DOPPELGANGER_DATA_DIR to a folder holding lfw/ and tt100k/)")
    return Path(root)


def _identities(part: ImageSet) -> set[str]:
    return {part.classes[label] for label in part.labels}


@pytest.mark.slow
def test_real_tt100k_parts_share_no_panorama(data_dir: Path) -> None:
    parts = make_parts("tt100k", data_dir, min_images=20, seed=0)
    assert set(parts) == set(PARTS)
    panoramas = {name: {panorama_of(p) for p in part.paths} for name, part in parts.items()}
    for x, y in itertools.combinations(PARTS, 2):
        assert panoramas[x].isdisjoint(panoramas[y]), (x, y)
    for part in parts.values():
        assert part.num_classes == 71
    assert len(set(parts["train"].labels.tolist())) == 71
    # Every image is in at most one part, and the official test split is the test part.
    all_paths = [p for part in parts.values() for p in part.paths]
    assert len(all_paths) == len(set(all_paths))
    assert all(p.startswith("test/") for p in parts["test"].paths)
    assert all(p.startswith("train/") for p in parts["train"].paths + parts["val"].paths)


@pytest.mark.slow
def test_real_lfw_devtrain_tests_on_unseen_identities(data_dir: Path) -> None:
    parts = make_parts("lfw", data_dir, min_images=10, seed=0, protocol="devtrain")
    train, val, test = (_identities(parts[p]) for p in PARTS)
    assert train and val and test
    assert test.isdisjoint(train | val)
    assert train.isdisjoint(val)  # validation identities are held out of training too
    assert set(parts["test"].paths).isdisjoint(parts["train"].paths + parts["val"].paths)


@pytest.mark.slow
def test_real_lfw_closed_set(data_dir: Path) -> None:
    parts = make_parts("lfw", data_dir, min_images=20, seed=0)
    assert sum(len(part) for part in parts.values()) == 3023
    for part in parts.values():
        assert len(set(part.labels.tolist())) == 62
    with pytest.raises(ValueError, match="protocol"):
        make_parts("lfw", data_dir, min_images=20, seed=0, protocol="nope")
    with pytest.raises(ValueError, match="dataset"):
        make_parts("mnist", data_dir, min_images=20, seed=0)
