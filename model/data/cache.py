"""Decoded, resized images cached as one uint8 array per dataset and preprocessing.

Decoding thousands of JPEGs every epoch would keep two cores busy doing nothing useful. The first use decodes
every image of the dataset once (in parallel, with a progress bar) into ``<cache_dir>/<name>.npy`` beside a
list of the relative paths, ``<name>.json``; later uses memory-map the array. A ``Resized`` crop (another crop
at a smaller size) is made from that crop's cache, resizing its arrays instead of decoding again. Both files are written aside and
renamed, so an interrupted build leaves no half-written cache. Delete the folder at any time to rebuild.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.data.batch_decode import decode_chunks
from model.transforms import Preprocess, Resized, resize_image

_CHUNK = 256


class ImageCache:
    """All images of one dataset, decoded with one preprocessing, addressable by relative path."""

    def __init__(self, images: np.ndarray, paths: list[str]) -> None:
        self.images = images
        self.paths = paths
        self._row = {path: i for i, path in enumerate(paths)}

    @classmethod
    def concat(cls, first: "ImageCache", second: "ImageCache") -> "ImageCache":
        """Both caches as one, in memory (their paths must not overlap)."""
        return cls(np.concatenate([np.asarray(first.images), np.asarray(second.images)]), first.paths + second.paths)

    def rows(self, paths: list[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row[p] for p in paths), dtype=np.int64, count=len(paths))
        except KeyError as error:
            raise KeyError(f"{error.args[0]} is not in the image cache; delete the cache folder to rebuild it") from None

    def take(self, paths: list[str]) -> np.ndarray:
        """The images at ``paths`` as one (N, H, W, 3) uint8 array, in memory."""
        rows = self.rows(paths)
        order = np.argsort(rows)
        out = np.empty((len(rows),) + self.images.shape[1:], dtype=np.uint8)
        out[order] = self.images[rows[order]]
        return out

    @classmethod
    def load_if_complete(cls, cache_dir: Path, name: str, paths: list[str], preprocess) -> "ImageCache | None":
        """The cache ``<cache_dir>/<name>-<preprocess.tag>`` if it exists and holds every path, else None."""
        stem = Path(cache_dir) / f"{name}-{preprocess.tag}"
        array_file, index_file = stem.with_suffix(".npy"), stem.with_suffix(".json")
        if array_file.exists() and index_file.exists():
            cached_paths = json.loads(index_file.read_text())
            if set(paths) <= set(cached_paths):
                return cls(np.load(array_file, mmap_mode="r"), cached_paths)
        return None

    @classmethod
    def load_or_build(cls, cache_dir: Path, name: str, root: Path, paths: list[str], preprocess: Preprocess) -> "ImageCache":
        """Load ``<cache_dir>/<name>-<preprocess.tag>`` if it holds every path, else decode all ``paths``."""
        cached = cls.load_if_complete(cache_dir, name, paths, preprocess)
        if cached is not None:
            return cached
        stem = Path(cache_dir) / f"{name}-{preprocess.tag}"
        array_file, index_file = stem.with_suffix(".npy"), stem.with_suffix(".json")
        if isinstance(preprocess, Resized):
            source = cls.load_or_build(cache_dir, name, root, paths, preprocess.crop)
            images = cls._resize(source, paths, preprocess.size, desc=f"caching {name} at {preprocess.size}px")
        else:
            images = cls._decode(Path(root), paths, preprocess, desc=f"caching {name} at {preprocess.size}px")
        stem.parent.mkdir(parents=True, exist_ok=True)
        # Names of this process's own: two processes building the same cache at once never write one file.
        tmp_array, tmp_index = stem.with_suffix(f".npy.{os.getpid()}.tmp"), stem.with_suffix(f".json.{os.getpid()}.tmp")
        with open(tmp_array, "wb") as f:
            np.save(f, images)
        tmp_index.write_text(json.dumps(paths))
        os.replace(tmp_array, array_file)
        os.replace(tmp_index, index_file)
        return cls(np.load(array_file, mmap_mode="r"), list(paths))

    @staticmethod
    def _resize(source: "ImageCache", paths: list[str], size: int, desc: str) -> np.ndarray:
        """The images at ``paths`` of ``source``, resized to ``size`` (``resize_image``)."""
        out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
        with tqdm(total=len(paths), desc=desc, unit="img") as bar:
            for start in range(0, len(paths), _CHUNK):
                chunk = source.take(paths[start : start + _CHUNK])
                out[start : start + len(chunk)] = [resize_image(image, size) for image in chunk]
                bar.update(len(chunk))
        return out

    @staticmethod
    def _decode(root: Path, paths: list[str], preprocess: Preprocess, desc: str) -> np.ndarray:
        """Every image of ``paths`` under ``root``, decoded by a process per core; a file that does not decode
        fails the build (the cache must hold every image)."""
        out = np.empty((len(paths), preprocess.size, preprocess.size, 3), dtype=np.uint8)
        start = 0
        with tqdm(total=len(paths), desc=desc, unit="img") as bar:
            for chunk, images, _ in decode_chunks(root, paths, preprocess, chunk=_CHUNK):
                out[start : start + len(chunk)] = images
                start += len(chunk)
                bar.update(len(chunk))
        return out
