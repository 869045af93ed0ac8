"""Export to TensorBoard's embedding projector: ``tensorboard --logdir OUT/projector``, tab "Projector".

One embedding per part (its tag), each with metadata (class, a colour group, image path) and a sprite of
thumbnails, so the projector can show the points in 3-D (PCA, t-SNE, UMAP) with their images. The projector
colours by a column of at most 50 distinct values, hence the ``group`` column: the largest classes by name,
the others as ``(other)``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THUMB = 32
COLOUR_GROUPS = 20
"""Classes named in the ``group`` column (the projector colours by at most 50 distinct values)."""
OTHER = "(other)"
METADATA_HEADER = ["class", "group", "image"]


@dataclass(frozen=True)
class ProjectorEmbedding:
    """What one tag of the projector shows: vectors, their class names and images, and image paths."""

    tag: str
    embeddings: np.ndarray
    """float (N, D)"""
    labels: np.ndarray
    classes: list[str]
    images: np.ndarray
    """uint8 (N, H, W, 3)"""
    paths: list[str]


def _metadata_cell(text: str) -> str:
    """Tabs and newlines would break the TSV."""
    return " ".join(str(text).split())


def metadata_rows(labels: np.ndarray, classes: list[str], paths: list[str], groups: int = COLOUR_GROUPS) -> list[list[str]]:
    """One [class, group, image] row per point; ``group`` is the class for the ``groups`` largest, else OTHER."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=len(classes))
    named = set(np.lexsort((np.arange(len(classes)), -counts))[:groups].tolist())
    return [
        [_metadata_cell(classes[y]), _metadata_cell(classes[y]) if y in named else OTHER, _metadata_cell(path)]
        for y, path in zip(labels.tolist(), paths)
    ]


def label_images(images: np.ndarray, thumb: int = THUMB):
    """uint8 (N, H, W, 3) -> float tensor (N, 3, thumb, thumb) in [0, 1], as ``add_embedding`` wants."""
    import torch
    import torch.nn.functional as F

    batch = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if batch.shape[-2:] != (thumb, thumb) and len(batch):
        batch = F.interpolate(batch, size=(thumb, thumb), mode="bilinear", antialias=True, align_corners=False)
    return batch.clamp_(0.0, 1.0)


def embedding_files(projector_dir: Path, tag: str, global_step: int = 0) -> dict[str, Path]:
    """Where ``add_embedding`` puts the files of ``tag``."""
    folder = Path(projector_dir) / f"{global_step:05d}" / tag
    return {name: folder / name for name in ("tensors.tsv", "metadata.tsv", "sprite.png")}


def write_projector(projector_dir: Path, embeddings: list[ProjectorEmbedding], thumb: int = THUMB) -> list[Path]:
    """Write every embedding under ``projector_dir`` and return the files written (checked to exist)."""
    from torch.utils.tensorboard import SummaryWriter

    projector_dir = Path(projector_dir)
    tags = [e.tag for e in embeddings]
    if len(set(tags)) != len(tags) or any(not t or "/" in t or "\\" in t for t in tags):
        raise ValueError(f"embedding tags must be distinct plain names, got {tags}")
    for tag in tags:  # a rerun replaces its own tags' folders (add_embedding would warn and write into them)
        folder = embedding_files(projector_dir, tag)["tensors.tsv"].parent
        if folder.is_dir():
            shutil.rmtree(folder)
    written: list[Path] = []
    with SummaryWriter(log_dir=str(projector_dir)) as writer:
        for e in embeddings:
            if not (len(e.embeddings) == len(e.labels) == len(e.images) == len(e.paths)):
                raise ValueError(f"{e.tag}: embeddings, labels, images and paths differ in length")
            writer.add_embedding(
                np.asarray(e.embeddings, dtype=np.float32),
                metadata=metadata_rows(e.labels, e.classes, e.paths),
                metadata_header=METADATA_HEADER,
                label_img=label_images(e.images, thumb),
                tag=e.tag,
                global_step=0,
            )
            written.extend(embedding_files(projector_dir, e.tag).values())
    written.append(projector_dir / "projector_config.pbtxt")
    missing = [str(path) for path in written if not path.is_file()]
    if missing:
        raise RuntimeError(f"the projector export is incomplete, missing: {', '.join(missing)}")
    return written
