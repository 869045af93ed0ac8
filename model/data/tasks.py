"""Tasks: a dataset, a subset of it, and its train/validation/test parts.

===============  ==========================================================================================
``lfw`` closed   people with >= ``min_images`` images (20: LFW-62, 10: LFW-158), split 70/10/20 by image,
                 stratified; verification on View 2 (``pairs.txt``).
``lfw`` devtrain the DevTrain identities with >= ``min_images`` images for training, 10% of them held out
                 for validation; the test part is the DevTest identities (never seen), verification on
                 ``pairsDevTest.txt`` with the threshold chosen on ``pairsDevTrain.txt``.
``tt100k``       classes with >= ``min_images`` crops (20: TT100K-71); the official test split is the test
                 part, validation is held out of the official train split by whole panoramas (the few
                 panoramas the release puts on both sides stay in test only).
===============  ==========================================================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.config import DATASETS, LFW_PROTOCOLS
from model.data.cache import ImageCache
from model.data.image_set import ImageSet
from model.data.celeba import FOLDER as CELEBA
from model.data.celeba import join, load_celeba
from model.data.lfw import load_lfw
from model.data.splits import grouped_holdout, identity_holdout, stratified_split
from model.data.tt100k import load_tt100k
from model.faces.crop import AlignedCrop, FrameCrop, crop_for
from model.transforms import Preprocess, Resized

CLOSED_SET_FRACTIONS = (0.7, 0.1, 0.2)
CLOSED_SET_MIN_IMAGES = 4


def make_parts(
    dataset: str, data_dir: Path, min_images: int, seed: int, protocol: str = "closed", extra_data: str = "none",
) -> dict[str, ImageSet]:
    """The train, val and test parts of a task, seeded. ``extra_data`` adds people to the training part only."""
    if dataset == "lfw":
        lfw_dir = Path(data_dir) / "lfw"
        if protocol == "closed":
            if min_images < CLOSED_SET_MIN_IMAGES:
                raise ValueError(
                    f"a closed-set split needs every person in train, validation and test: use --min-images "
                    f">= {CLOSED_SET_MIN_IMAGES} (or --protocol devtrain for people with fewer images)"
                )
            images = load_lfw(lfw_dir, min_images=min_images)
            return {name: images.subset(idx) for name, idx in stratified_split(images.labels, CLOSED_SET_FRACTIONS, seed).items()}
        if protocol == "devtrain":
            images = load_lfw(lfw_dir, min_images=min_images, people_file="peopleDevTrain.txt")
            keep, held = identity_holdout(images.labels, 0.1, seed)
            test = load_lfw(lfw_dir, min_images=2, people_file="peopleDevTest.txt")
            train = images.subset(keep)
            if extra_data == "celeba10k":
                train = join(train, load_celeba(Path(data_dir) / CELEBA, min_images=max(2, min_images)))
            return {"train": train, "val": images.subset(held), "test": test}
        raise ValueError(f"unknown LFW protocol {protocol!r}; choose one of {', '.join(LFW_PROTOCOLS)}")
    if dataset == "tt100k":
        train, test = load_tt100k(Path(data_dir) / "tt100k", min_images=min_images)
        # The release puts a few panoramas on both sides; keep their crops in test only, so no scene leaks.
        train = train.subset(np.flatnonzero(~np.isin(train.groups, test.groups)))
        keep, held = grouped_holdout(train.labels, train.groups, 0.15, seed)
        return {"train": train.subset(keep), "val": train.subset(held), "test": test}
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def is_closed_set(dataset: str, protocol: str) -> bool:
    """Closed-set tasks test on the training classes (classification metrics apply); open-set ones do not."""
    return not (dataset == "lfw" and protocol == "devtrain")


def all_paths(dataset: str, data_dir: Path) -> tuple[Path, list[str]]:
    """The image root and every image of the dataset: what the decoded-image cache holds."""
    if dataset == "lfw":
        images = load_lfw(Path(data_dir) / "lfw", min_images=1)
        return images.root, images.paths
    if dataset == "tt100k":
        train, test = load_tt100k(Path(data_dir) / "tt100k", min_images=1)
        return train.root, train.paths + test.paths
    raise ValueError(f"unknown dataset {dataset!r}")


def input_crop(
    dataset: str, image_size: int, backbone: str = "mobilenet_v2", face_template: str | None = None,
) -> FrameCrop | AlignedCrop | Preprocess | Resized:
    """The crop that makes a model's input: ``crop_for`` its backbone; with ``face_template`` (a distilled student,
    ``--face-template``), the face aligned on that face backbone's template at the backbone's own input size, then
    resized to ``image_size``: the very crop its teacher sees, smaller."""
    if face_template is None:
        return crop_for(dataset, image_size, backbone)
    from model.networks.backbones import FACE_INPUTS

    aligned = crop_for(dataset, FACE_INPUTS[face_template].size, face_template)
    return aligned if aligned.size == image_size else Resized(aligned, image_size)


def run_crop(config) -> FrameCrop | AlignedCrop | Preprocess | Resized:
    """The crop of a run's ``TrainConfig``: what its network must be fed, in training, evaluation and serving."""
    return input_crop(config.dataset, config.image_size, config.backbone, config.face_template)


def dataset_cache(
    dataset: str, data_dir: Path, cache_dir: Path, image_size: int, backbone: str = "mobilenet_v2", extra_data: str = "none",
    face_template: str | None = None,
) -> ImageCache:
    """Every image of ``dataset`` (and of ``extra_data``) cropped for ``backbone`` at ``image_size``
    (``input_crop``; each dataset's cache built on first use)."""
    root, paths = all_paths(dataset, data_dir)
    crop = input_crop(dataset, image_size, backbone, face_template)
    cache = ImageCache.load_or_build(cache_dir, dataset, root, paths, crop)
    if extra_data == "celeba10k":
        extra = load_celeba(Path(data_dir) / CELEBA, min_images=1)
        extra_cache = ImageCache.load_or_build(cache_dir, CELEBA, extra.root, extra.paths, crop)
        prefixed = join(ImageSet(root, [], np.zeros(0, np.int64), []), extra).paths
        cache = ImageCache.concat(cache, ImageCache(extra_cache.images, prefixed))
    return cache
