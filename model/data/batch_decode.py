"""Decoding image files straight into model input, for many files at once: what the index builder can use.

``decode_for_model(paths, preprocess, workers)`` decodes with exactly the preprocessing of the training cache
(``Preprocess.__call__``: full-size decode, crop, bilinear resize), split over ``workers`` processes;
``iter_decoded`` yields the same in chunks from a running pool, so the caller embeds one chunk while the pool
decodes the next.

``draft=True`` lets libjpeg scale the image down while decoding (``Image.draft``: the DCT is decoded at 1/2,
1/4 or 1/8 size, the largest reduction that still leaves the crop at least as large as the model input), maps
the crop box into the reduced frame and resamples that fractional box to the input size in one
``resize(box=...)`` call. It decodes LFW frames faster, but the pixels differ from the training preprocessing by
about 1.3 grey levels on average (a slightly softer image), and that cost 1.0 point of 1-NN accuracy on LFW-62
(``bench/embed_speed.py``), more than the 0.5 point we allow, so it is off by default.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from model.transforms import Preprocess

_CHUNK = 128


def load_for_model(image: Image.Image, preprocess: Preprocess, draft: bool = False) -> np.ndarray:
    """One opened image -> uint8 (S, S, 3) model input; with ``draft``, JPEGs are decoded at reduced size."""
    if not draft or image.format != "JPEG":
        return preprocess(image)
    width, height = image.size
    x0, y0, x1, y1 = preprocess.box if preprocess.box is not None else (0, 0, width, height)
    # The reduced frame must keep the crop at least preprocess.size wide and high.
    request = (math.ceil(width * preprocess.size / (x1 - x0)), math.ceil(height * preprocess.size / (y1 - y0)))
    result = image.draft("RGB", request)
    scale = 1.0 if result is None else width / result[1][2]
    image = image.convert("RGB")
    box = (x0 / scale, y0 / scale, x1 / scale, y1 / scale)
    image = image.resize((preprocess.size, preprocess.size), Image.Resampling.BILINEAR, box=box, reducing_gap=None)
    return np.asarray(image, dtype=np.uint8)


def _decode_chunk(paths: list[str], preprocess: Preprocess, draft: bool) -> np.ndarray:
    out = np.empty((len(paths), preprocess.size, preprocess.size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            out[i] = load_for_model(image, preprocess, draft)
    return out


def iter_decoded(
    paths: list[str | Path], preprocess: Preprocess, pool: ProcessPoolExecutor, draft: bool = False, chunk: int = _CHUNK
) -> Iterator[np.ndarray]:
    """The model inputs of ``paths`` in chunks of ``chunk``, in order, decoded by ``pool`` while the caller works
    on the chunks already yielded (embeds them, say): decoding and embedding then overlap."""
    paths = [str(p) for p in paths]
    futures = [pool.submit(_decode_chunk, paths[i : i + chunk], preprocess, draft) for i in range(0, len(paths), chunk)]
    try:
        for future in futures:
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


def decode_for_model(
    paths: list[str | Path], preprocess: Preprocess, workers: int = 0, draft: bool = False, pool: ProcessPoolExecutor | None = None
) -> np.ndarray:
    """Image files -> uint8 (N, S, S, 3) model inputs, in order. ``workers``: processes (0: one per core, 1: this
    process only); or pass a running ``pool`` to reuse its processes."""
    paths = [str(p) for p in paths]
    out = np.empty((len(paths), preprocess.size, preprocess.size, 3), dtype=np.uint8)
    chunks = [(i, paths[i : i + _CHUNK]) for i in range(0, len(paths), _CHUNK)]
    workers = workers if workers > 0 else (os.cpu_count() or 1)
    if pool is None and (workers == 1 or len(chunks) <= 1):
        for start, chunk in chunks:
            out[start : start + len(chunk)] = _decode_chunk(chunk, preprocess, draft)
        return out
    own = pool is None
    pool = pool or ProcessPoolExecutor(max_workers=min(workers, len(chunks)))
    try:
        futures = [(start, pool.submit(_decode_chunk, chunk, preprocess, draft)) for start, chunk in chunks]
        for start, future in futures:
            block = future.result()
            out[start : start + len(block)] = block
    finally:
        if own:
            pool.shutdown()
    return out
