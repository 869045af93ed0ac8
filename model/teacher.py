"""The teacher of a distilled run (``--teacher``): which network it is, what it sees, and its embeddings, computed
once per image and cached, so that training never runs it.

A teacher is a face backbone as its publisher trained it (``face_reid_0095``), or a run directory (``runs/default``,
any trained run). Its identity is the SHA-256 of what it computes with: the backbone's model files (checked
against ``model.pretrained``), or the run's best checkpoint. It sees its own input (``model.data.tasks.run_crop``:
for ``face_reid_0095``, faces aligned on its five-point template at 128 px), read from the decoded-image cache;
the student sees the same crops resized to its ``--image-size`` (its ``face_template`` is the teacher's).

The embeddings live beside the image caches::

    <cache_dir>/teacher-<label>-<sha256[:12]>-<dataset>-<crop tag>.npy   float32 (N, dim), unit rows
    <cache_dir>/teacher-<label>-<sha256[:12]>-<dataset>-<crop tag>.json  {"teacher", "sha256", "crop", "dim", "paths"}

keyed by the teacher's identity and its crop. A file whose JSON names another SHA-256, crop or width was made by
another teacher: it is refused and rebuilt. Paths the cache lacks are embedded (and added) when first asked for;
both files are written aside and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from model.config import FACE_BACKBONES, TrainConfig
from model.data.cache import ImageCache
from model.data.tasks import dataset_cache, run_crop
from model.hashing import file_sha256
from model.inference import Embedder
from model.run import RunDir

Embed = Callable[[np.ndarray], np.ndarray]
"""uint8 images (N, S, S, 3) -> float32 embeddings (N, D)."""

_CHUNK = 512


@dataclass(frozen=True)
class Teacher:
    """A teacher network: how ``--teacher`` named it, its label in file and run names, its identity, and the
    ``TrainConfig`` that describes its network and input (a backbone's is made up: published weights, no head)."""

    spec: str
    label: str
    sha256: str
    config: TrainConfig
    run: RunDir | None = None

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def face_template(self) -> str | None:
        """The five-point template of the faces the teacher sees (what its student aligns on); None for LFW's frame."""
        if self.config.face_template is not None:
            return self.config.face_template
        return self.config.backbone if self.config.backbone in FACE_BACKBONES else None

    def crop_tag(self, dataset: str = "lfw") -> str:
        return run_crop(replace_dataset(self.config, dataset)).tag

    def images(self, data_dir: Path, cache_dir: Path, extra_data: str = "none") -> ImageCache:
        """Every image of LFW (and of ``extra_data``) as the teacher sees it, from the decoded-image cache."""
        c = self.config
        return dataset_cache("lfw", data_dir, cache_dir, c.image_size, c.backbone, extra_data, face_template=c.face_template)

    def embedder(self, threads: int = 0) -> Embedder:
        """The teacher's network on the fastest exact backend (``model.inference.Embedder``)."""
        if self.run is not None:
            return Embedder.from_run(self.run, threads=threads)
        from model.networks import EmbeddingNet

        net = EmbeddingNet.from_config(self.config)
        return Embedder(net, self.config.image_size, threads=threads)


def replace_dataset(config: TrainConfig, dataset: str) -> TrainConfig:
    return config if config.dataset == dataset else TrainConfig.from_dict({**config.to_dict(), "dataset": dataset})


def backbone_sha256(backbone: str) -> str:
    """The identity of a face backbone's published weights: the SHA-256 of its files' SHA-256s (each file checked
    against ``model.pretrained``; ``WeightsUnavailableError`` when one is missing or damaged)."""
    from model.networks.backbones import FACE_MODELS
    from model.pretrained import MODELS, model_file

    name = FACE_MODELS[backbone]
    root = model_file(name).parent.parent  # every file checked; the weights folder
    digests = [file_sha256(root / f.path) for f in MODELS[name].files]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def resolve_teacher(spec: str) -> Teacher:
    """The teacher ``--teacher`` names: a face backbone (``face_reid_0095``) or a run directory with a best checkpoint.

    A run that trained on LFW people is accepted only from ``--protocol devtrain``: any other would have learnt
    people whom DevTest and unseen View 2 hold, and its student's figures on them would not measure unseen faces."""
    if spec in FACE_BACKBONES:
        from model.networks.backbones import FACE_INPUTS

        config = TrainConfig(protocol="devtrain", backbone=spec, head="none", dim=256, image_size=FACE_INPUTS[spec].size, epochs=0)
        return Teacher(spec, spec, backbone_sha256(spec), config)
    run = RunDir(spec)
    if not run.exists():
        raise FileNotFoundError(
            f"--teacher {spec} is neither a face backbone ({', '.join(FACE_BACKBONES)}) nor a run directory (no config.json)"
        )
    checkpoint = run.checkpoint("best")
    if not checkpoint.exists():
        raise FileNotFoundError(f"the teacher run {spec} has no {checkpoint}")
    config = run.config()
    if config.dataset != "lfw":
        raise ValueError(f"the teacher run {spec} embeds {config.dataset}, not faces")
    if config.epochs > 0 and config.protocol != "devtrain":
        raise ValueError(
            f"the teacher run {spec} trained on LFW with --protocol {config.protocol}: it has seen people of DevTest and "
            "View 2, so its student could not be evaluated on unseen faces; distil a --protocol devtrain run or a "
            "face backbone"
        )
    return Teacher(spec, run.path.resolve().name, file_sha256(checkpoint), config, run)


def with_teacher_template(config: TrainConfig, teacher: Teacher) -> TrainConfig:
    """``config`` with the student fed its teacher's crop: the teacher's face template (LFW's frame when it has
    none). A different ``--face-template`` is refused."""
    if config.face_template == teacher.face_template or config.backbone in FACE_BACKBONES:
        return config
    if config.face_template is not None:
        raise ValueError(
            f"the student sees its teacher's crop: --teacher {teacher.spec} sees "
            f"{'faces aligned on ' + teacher.face_template if teacher.face_template else 'LFW frames'}; leave --face-template out"
        )
    return TrainConfig.from_dict({**config.to_dict(), "face_template": teacher.face_template})


def cache_stem(teacher: Teacher, cache_dir: Path, dataset: str = "lfw") -> Path:
    return Path(cache_dir) / f"teacher-{teacher.label}-{teacher.sha256[:12]}-{dataset}-{teacher.crop_tag(dataset)}"


def _read_cache(teacher: Teacher, stem: Path, dataset: str) -> tuple[np.ndarray, list[str]]:
    """The cached embeddings and their paths; empty when there are none, or when they are another teacher's."""
    array_file, index_file = stem.with_suffix(".npy"), stem.with_suffix(".json")
    empty = np.zeros((0, teacher.dim), dtype=np.float32), []
    if not (array_file.exists() and index_file.exists()):
        return empty
    meta = json.loads(index_file.read_text())
    expected = {"sha256": teacher.sha256, "crop": teacher.crop_tag(dataset), "dim": teacher.dim}
    found = {key: meta.get(key) for key in expected}
    if found != expected:
        print(f"{stem.name}: made by another teacher ({found}, expected {expected}): refused, rebuilding it")
        return empty
    embeddings = np.load(array_file)
    if embeddings.shape != (len(meta["paths"]), teacher.dim):
        print(f"{stem.name}: {embeddings.shape} does not match its {len(meta['paths'])} paths: refused, rebuilding it")
        return empty
    return embeddings, list(meta["paths"])


def _write_cache(teacher: Teacher, stem: Path, dataset: str, embeddings: np.ndarray, paths: list[str]) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    array_file, index_file = stem.with_suffix(".npy"), stem.with_suffix(".json")
    tmp_array, tmp_index = stem.with_suffix(f".npy.{os.getpid()}.tmp"), stem.with_suffix(f".json.{os.getpid()}.tmp")
    with open(tmp_array, "wb") as f:
        np.save(f, embeddings.astype(np.float32))
    meta = {"teacher": teacher.spec, "sha256": teacher.sha256, "crop": teacher.crop_tag(dataset), "dim": teacher.dim, "paths": paths}
    tmp_index.write_text(json.dumps(meta))
    os.replace(tmp_array, array_file)
    os.replace(tmp_index, index_file)


def teacher_embeddings(
    teacher: Teacher, images: ImageCache | Callable[[], ImageCache], paths: list[str], cache_dir: Path,
    dataset: str = "lfw", embed: Embed | None = None,
) -> np.ndarray:
    """The teacher's embeddings (len(paths), dim) of ``paths``, in that order: read from the cache, the missing ones
    embedded from ``images`` (the teacher's input, ``Teacher.images``, or a function that loads it, called only
    then) with ``embed`` (default: the teacher's ``Embedder``, built only then) and added to it."""
    stem = cache_stem(teacher, cache_dir, dataset)
    cached, cached_paths = _read_cache(teacher, stem, dataset)
    known = set(cached_paths)
    missing = list(dict.fromkeys(p for p in paths if p not in known))
    if missing:
        images = images if isinstance(images, ImageCache) else images()
        embed = embed or teacher.embedder()
        parts = []
        with tqdm(total=len(missing), desc=f"teacher {teacher.label} embeds", unit="img") as bar:
            for start in range(0, len(missing), _CHUNK):
                chunk = missing[start : start + _CHUNK]
                parts.append(np.asarray(embed(images.take(chunk)), dtype=np.float32))
                bar.update(len(chunk))
        cached = np.concatenate([cached, *parts])
        cached_paths = cached_paths + missing
        _write_cache(teacher, stem, dataset, cached, cached_paths)
    row = {path: i for i, path in enumerate(cached_paths)}
    return cached[[row[p] for p in paths]]
