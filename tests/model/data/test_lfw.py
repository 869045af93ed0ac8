"""LFW reader: a tiny synthetic LFW tree in tmp_path, then the real protocol numbers when the data is present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.data.image_set import ImageSet
from model.data.lfw import DatasetMissingError, image_dir, image_path, list_people, load_lfw, read_pairs, read_people_file

PEOPLE = {"Alice_A": 3, "Bob_B": 2, "Carol_C": 1, "Dave_D": 4}

# people.txt is the 10-fold file flattened: number of folds, then per fold a count and "name n" lines.
PEOPLE_TXT = "2\n2\nAlice_A\t3\nBob_B\t2\n2\nCarol_C\t1\nDave_D\t4\n"
PEOPLE_DEV_TRAIN = "2\nAlice_A\t3\nCarol_C\t1\n"
PEOPLE_DEV_TEST = "2\nBob_B\t2\nDave_D\t4\n"
# View 2 style: 2 folds of 2 matched then 2 mismatched pairs.
PAIRS_TXT = (
    "2\t2\n"
    "Alice_A\t1\t2\n"
    "Dave_D\t1\t4\n"
    "Alice_A\t3\tBob_B\t1\n"
    "Carol_C\t1\tDave_D\t2\n"
    "Bob_B\t1\t2\n"
    "Dave_D\t2\t3\n"
    "Alice_A\t1\tDave_D\t4\n"
    "Bob_B\t2\tCarol_C\t1\n"
)
# pairsDev style: one fold, the header is the number of matched (= mismatched) pairs.
PAIRS_DEV = "2\nAlice_A\t1\t3\nDave_D\t2\t4\nAlice_A\t2\tCarol_C\t1\nBob_B\t2\tDave_D\t3\n"


def _write_images(folder: Path, people: dict[str, int]) -> None:
    for name, count in people.items():
        (folder / name).mkdir(parents=True)
        for k in range(1, count + 1):
            Image.new("RGB", (4, 4), (k * 30, 0, 0)).save(folder / name / f"{name}_{k:04d}.jpg")


def make_lfw(tmp_path: Path, layout: str = "lfw-deepfunneled", people: dict[str, int] = PEOPLE) -> Path:
    lfw = tmp_path / "lfw"
    _write_images(lfw / layout, people)
    (lfw / layout / "Alice_A" / "notes.txt").write_text("not an image")  # ignored: not a .jpg
    (lfw / layout / "Empty_Person").mkdir()  # ignored: no images
    for name, text in {
        "people.txt": PEOPLE_TXT,
        "peopleDevTrain.txt": PEOPLE_DEV_TRAIN,
        "peopleDevTest.txt": PEOPLE_DEV_TEST,
        "pairs.txt": PAIRS_TXT,
        "pairsDevTest.txt": PAIRS_DEV,
    }.items():
        (lfw / name).write_text(text)
    return lfw


def names_of(images: ImageSet) -> list[str]:
    return [images.classes[label] for label in images.labels]


# --------------------------------------------------------------------------------------------------- synthetic


def test_image_path_numbering() -> None:
    assert image_path("Abel_Pacheco", 1) == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    assert image_path("George_W_Bush", 530) == "George_W_Bush/George_W_Bush_0530.jpg"
    assert image_path("X", 1234) == "X/X_1234.jpg"


@pytest.mark.parametrize("layout", ["lfw-deepfunneled", "lfw"])
def test_load_all_people_in_either_layout(tmp_path: Path, layout: str) -> None:
    lfw = make_lfw(tmp_path, layout)
    images = load_lfw(lfw)
    assert images.root == lfw / layout
    assert images.classes == ["Alice_A", "Bob_B", "Carol_C", "Dave_D"]
    assert len(images) == 3 + 2 + 1 + 4
    assert images.labels.dtype == np.int64
    assert images.labels.tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 3, 3]
    assert images.paths[:3] == [image_path("Alice_A", k) for k in (1, 2, 3)]
    # Every path is relative to the root, and its folder is the label's name.
    for path, name in zip(images.paths, names_of(images)):
        assert (images.root / path).is_file()
        assert path.split("/")[0] == name
    assert images.class_counts().tolist() == [3, 2, 1, 4]


def test_deep_funneled_images_are_preferred(tmp_path: Path) -> None:
    lfw = make_lfw(tmp_path, "lfw-deepfunneled", people={"Alice_A": 2})
    _write_images(lfw / "lfw", {"Bob_B": 2})
    assert image_dir(lfw) == lfw / "lfw-deepfunneled"
    assert load_lfw(lfw).classes == ["Alice_A"]


def test_min_images_filters_people_and_relabels(tmp_path: Path) -> None:
    lfw = make_lfw(tmp_path)
    images = load_lfw(lfw, min_images=2)
    assert images.classes == ["Alice_A", "Bob_B", "Dave_D"]
    assert sorted(set(images.labels.tolist())) == [0, 1, 2]
    assert names_of(images).count("Dave_D") == 4
    assert "Carol_C" not in names_of(images)
    assert load_lfw(lfw, min_images=4).classes == ["Dave_D"]
    assert len(load_lfw(lfw, min_images=5)) == 0


def test_people_file_filters_identities(tmp_path: Path) -> None:
    lfw = make_lfw(tmp_path)
    train = load_lfw(lfw, people_file="peopleDevTrain.txt")
    test = load_lfw(lfw, people_file="peopleDevTest.txt")
    assert train.classes == ["Alice_A", "Carol_C"]
    assert test.classes == ["Bob_B", "Dave_D"]
    assert set(train.paths).isdisjoint(test.paths)
    assert len(train) + len(test) == len(load_lfw(lfw))
    # people_file and min_images combine.
    assert load_lfw(lfw, min_images=2, people_file="peopleDevTrain.txt").classes == ["Alice_A"]
    # The 10-fold people.txt is flattened: every person of every fold, fold counts skipped.
    assert load_lfw(lfw, people_file="people.txt").classes == ["Alice_A", "Bob_B", "Carol_C", "Dave_D"]


def test_read_people_file_skips_counts(tmp_path: Path) -> None:
    lfw = make_lfw(tmp_path)
    assert read_people_file(lfw / "people.txt") == ["Alice_A", "Bob_B", "Carol_C", "Dave_D"]
    assert read_people_file(lfw / "peopleDevTest.txt") == ["Bob_B", "Dave_D"]


def test_list_people_ignores_other_files_and_empty_folders(tmp_path: Path) -> None:
    people = list_people(make_lfw(tmp_path))
    assert list(people) == ["Alice_A", "Bob_B", "Carol_C", "Dave_D"]
    assert people["Alice_A"] == [image_path("Alice_A", k) for k in (1, 2, 3)]


def test_read_pairs_view2_folds(tmp_path: Path) -> None:
    pairs = read_pairs(make_lfw(tmp_path) / "pairs.txt")
    assert len(pairs) == 8
    assert pairs.same.tolist() == [True, True, False, False] * 2
    assert pairs.fold.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # Matched line "name n1 n2", mismatched line "name1 n1 name2 n2".
    assert (pairs.left[0], pairs.right[0]) == (image_path("Alice_A", 1), image_path("Alice_A", 2))
    assert (pairs.left[2], pairs.right[2]) == (image_path("Alice_A", 3), image_path("Bob_B", 1))
    assert (pairs.left[7], pairs.right[7]) == (image_path("Bob_B", 2), image_path("Carol_C", 1))


def test_read_pairs_dev_single_fold(tmp_path: Path) -> None:
    lfw = make_lfw(tmp_path)
    pairs = read_pairs(lfw / "pairsDevTest.txt")
    assert len(pairs) == 4
    assert pairs.same.tolist() == [True, True, False, False]
    assert pairs.fold.tolist() == [0, 0, 0, 0]
    assert pairs.right[1] == image_path("Dave_D", 4)
    assert pairs.right[3] == image_path("Dave_D", 3)
    # The pairs name images that exist in the tree.
    root = image_dir(lfw)
    for path in pairs.left + pairs.right:
        assert (root / path).is_file(), path


def test_read_pairs_rejects_a_malformed_line(tmp_path: Path) -> None:
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\nAlice_A\t1\t2\nAlice_A\t1\tBob_B\n")  # second line has 3 fields but a name where n2 goes
    with pytest.raises(ValueError):
        read_pairs(bad)
    bad.write_text("1\nAlice_A\t1\t2\nAlice_A\t1\tBob_B\t1\textra\n")  # 5 fields
    with pytest.raises(ValueError, match="line 3 is not a pair"):
        read_pairs(bad)
    bad.write_text("1\nAlice_A\t1\t2\nAlice_A\n")  # 1 field
    with pytest.raises(ValueError, match="not a pair"):
        read_pairs(bad)


def test_read_pairs_rejects_a_wrong_count(tmp_path: Path) -> None:
    bad = tmp_path / "pairs.txt"
    bad.write_text("2\t1\nAlice_A\t1\t2\nAlice_A\t1\tBob_B\t1\n")  # header promises 4 pairs
    with pytest.raises(ValueError, match="expected 4 pairs, found 2"):
        read_pairs(bad)


def test_missing_images_name_the_download_command(tmp_path: Path) -> None:
    (tmp_path / "lfw").mkdir()
    with pytest.raises(DatasetMissingError) as error:
        load_lfw(tmp_path / "lfw")
    assert "doppelganger data download lfw" in str(error.value)
    assert "DOPPELGANGER_DATA_DIR" in str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    with pytest.raises(DatasetMissingError, match="doppelganger data download lfw"):
        load_lfw(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_lfw() -> Path:
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    if not root or not (Path(root) / "lfw").is_dir():
        pytest.skip("real LFW not available (set DOPPELGANGER_DATA_DIR to a folder holding lfw/)")
    return Path(root) / "lfw"


@pytest.mark.slow
@pytest.mark.parametrize(("min_images", "people", "count"), [(20, 62, 3023), (10, 158, 4324)])
def test_real_closed_set_sizes(real_lfw: Path, min_images: int, people: int, count: int) -> None:
    images = load_lfw(real_lfw, min_images=min_images)
    assert images.num_classes == people
    assert len(images) == count
    assert images.class_counts().min() >= min_images
    assert images.class_counts().max() == 530  # George_W_Bush
    assert images.classes[int(np.argmax(images.class_counts()))] == "George_W_Bush"


@pytest.mark.slow
def test_real_dev_train_and_test_are_disjoint(real_lfw: Path) -> None:
    train = load_lfw(real_lfw, people_file="peopleDevTrain.txt")
    test = load_lfw(real_lfw, people_file="peopleDevTest.txt")
    assert (train.num_classes, len(train)) == (4038, 9525)
    assert (test.num_classes, len(test)) == (1711, 3708)
    assert set(train.classes).isdisjoint(test.classes)


@pytest.mark.slow
def test_real_view2_pairs(real_lfw: Path) -> None:
    pairs = read_pairs(real_lfw / "pairs.txt")
    assert len(pairs) == 6000
    assert sorted(set(pairs.fold.tolist())) == list(range(10))
    assert np.bincount(pairs.fold).tolist() == [600] * 10
    assert int(pairs.same.sum()) == 3000
    assert all(int(pairs.same[pairs.fold == f].sum()) == 300 for f in range(10))
    root = image_dir(real_lfw)
    assert all((root / p).is_file() for p in pairs.left[:50] + pairs.right[:50])
    dev = read_pairs(real_lfw / "pairsDevTrain.txt")
    assert (len(dev), int(dev.same.sum()), int(dev.fold.max())) == (2200, 1100, 0)
