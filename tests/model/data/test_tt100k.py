"""TT100K crops reader: a synthetic {train,test}/<class>/<panorama>_<k>.jpg tree, then the real counts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from model.data.lfw import DatasetMissingError
from model.data.tt100k import load_tt100k, panorama_of

# class -> (train files, test files); names are <panorama>_<k>.
TREE = {
    "pn": (["100_0.jpg", "100_1.jpg", "101_0.jpg"], ["200_0.jpg"]),
    "pl40": (["102_0.png"], ["201_0.jpg", "202_0.JPG"]),  # 1 + 2: kept at min_images=3 only over both splits
    "w57": (["103_0.jpg"], []),  # only in train
    "i5": ([], ["203_0.jpg", "203_1.jpeg"]),  # only in test
    "negative": (["900_0.jpg"] * 1 + ["901_0.jpg", "902_0.jpg", "903_0.jpg", "904_0.jpg"], ["905_0.jpg"]),
}


def make_tt100k(tmp_path: Path) -> Path:
    root = tmp_path / "tt100k"
    for cls, (train, test) in TREE.items():
        for split, files in (("train", train), ("test", test)):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for name in files:
                (root / split / cls / name).write_bytes(b"")  # the reader only lists files
    (root / "train" / "pn" / "readme.txt").write_text("not an image")
    (root / "train" / "empty").mkdir()
    return root


def test_panorama_of() -> None:
    assert panorama_of("train/pn/10106_0.jpg") == "10106"
    assert panorama_of("test/pl40/77_12.png") == "77"
    assert panorama_of("train/x/a_b_3.jpg") == "a_b"  # only the last "_k" is the crop number


def test_classes_are_counted_over_both_splits(tmp_path: Path) -> None:
    root = make_tt100k(tmp_path)
    train, test = load_tt100k(root, min_images=1)
    assert train.classes == ["i5", "pl40", "pn", "w57"]
    assert test.classes is train.classes or test.classes == train.classes
    assert "negative" not in train.classes
    assert (len(train), len(test)) == (5, 5)
    # pl40 has 1 train + 2 test crops: 3 in all, so it survives min_images=3 though neither split alone has 3.
    train3, test3 = load_tt100k(root, min_images=3)
    assert train3.classes == ["pl40", "pn"]
    assert train3.class_counts().tolist() == [1, 3]
    assert test3.class_counts().tolist() == [2, 1]
    assert load_tt100k(root, min_images=5)[0].classes == []


def test_negative_is_never_a_class(tmp_path: Path) -> None:
    # negative/ has 6 files, more than any sign class, yet is dropped at every threshold.
    root = make_tt100k(tmp_path)
    for min_images in (1, 4, 6):
        train, test = load_tt100k(root, min_images=min_images)
        assert "negative" not in train.classes
        assert not any("/negative/" in p for p in train.paths + test.paths)


def test_paths_labels_and_groups(tmp_path: Path) -> None:
    root = make_tt100k(tmp_path)
    train, test = load_tt100k(root, min_images=1)
    assert train.root == root and test.root == root
    assert all(p.startswith("train/") for p in train.paths)
    assert all(p.startswith("test/") for p in test.paths)
    for part in (train, test):
        for path, label, group in zip(part.paths, part.labels, part.groups):
            assert (root / path).is_file()
            assert path.split("/")[1] == part.classes[label]  # the label is the class folder
            assert group == panorama_of(path)
    assert "train/pn/readme.txt" not in train.paths
    assert "test/pl40/202_0.JPG" in test.paths  # suffixes compared case-insensitively
    assert "test/i5/203_1.jpeg" in test.paths
    assert sorted(train.groups.tolist()) == ["100", "100", "101", "102", "103"]


def test_missing_split_raises(tmp_path: Path) -> None:
    root = tmp_path / "tt100k"
    (root / "train").mkdir(parents=True)
    with pytest.raises(DatasetMissingError, match="DOPPELGANGER_DATA_DIR"):
        load_tt100k(root)


@pytest.fixture(scope="module")
def real_tt100k() -> Path:
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    if not root or not (Path(root) / "tt100k").is_dir():
        pytest.skip("real TT100K not available (set DOPPELGANGER_DATA_DIR to a folder holding tt100k/)")
    return Path(root) / "tt100k"


@pytest.mark.slow
def test_real_tt100k_71_classes(real_tt100k: Path) -> None:
    train, test = load_tt100k(real_tt100k, min_images=20)
    assert train.num_classes == 71
    assert len(train) + len(test) == 24214
    assert "negative" not in train.classes
    counts = train.class_counts() + test.class_counts()
    assert counts.min() >= 20
    assert int(counts[train.classes.index("pn")]) == 2853
    assert np.array_equal(train.groups[:100], [panorama_of(p) for p in train.paths[:100]])
    all_train, all_test = load_tt100k(real_tt100k, min_images=1)
    assert (len(all_train), len(all_test)) == (16527, 8190)
    # Every class folder of either split (151 in train, 162 over both) is a class; none is "negative".
    folders = {d.name for split in ("train", "test") for d in (real_tt100k / split).iterdir() if d.is_dir()}
    assert all_train.classes == sorted(folders - {"negative"})
    assert len({d.name for d in (real_tt100k / "train").iterdir()}) == 151
