"""Decoding many image files into model input in a pool of processes: the one decoder of the project.

``decode_chunks(root, paths, crop, workers)`` decodes the files ``root/<path>`` with a crop (anything with
``.size``, ``.tag`` and ``__call__(PIL image) -> uint8 (S, S, 3)``: a ``model.transforms.Preprocess``, or a face
crop of ``model.faces.crop``) in chunks, over ``workers`` processes started with ``one_thread``, and yields the
chunks in order while the pool decodes the next ones (the caller embeds one chunk while the pool decodes the
next). An undecodable file raises, or, with ``skip_failures``, is reported with its reason. Its users: the
decoded-image cache (``model.data.cache``, which must hold every image), the index builder (``index.build``,
which skips what does not decode) and ``bench/embed_speed.py``. ``decode_for_model`` is the same as one array.

``draft=True`` (a ``Preprocess`` only) lets libjpeg scale the image down while decoding (``Image.draft``: the DCT
is decoded at 1/2, 1/4 or 1/8 size, the largest reduction that still leaves the crop at least as large as the
model input), maps the crop box into the reduced frame and resamples that fractional box to the input size in one
``resize(box=...)`` call. It decodes LFW frames faster, but the pixels differ from the training preprocessing by
about 1.3 grey levels on average (a slightly softer image), and that cost 1.0 point of 1-NN accuracy on LFW-62
(``bench/embed_speed.py``), more than the 0.5 point we allow, so it is off by default.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
from PIL import Image

from model.transforms import Preprocess

CHUNK = 128
"""Images per chunk, unless the caller asks for another size."""

DecodedChunk = tuple[list[str], np.ndarray, dict[str, str]]
"""One chunk: its paths, their uint8 (N, S, S, 3) model inputs, and ``{path: reason}`` of the files that did not
decode (their rows are zeros)."""


class Crop(Protocol):
    """What turns a decoded image into the model's input."""

    @property
    def size(self) -> int: ...

    @property
    def tag(self) -> str: ...

    def __call__(self, image: Image.Image) -> np.ndarray: ...


def one_thread() -> None:
    """Initialiser of decoding processes: one PyTorch thread each (a crop may run a face detector), so that the
    processes share the cores instead of each starting a thread per core."""
    import torch

    torch.set_num_threads(1)


def decoding_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` decoding processes (``one_thread`` each), to pass to ``decode_chunks`` when one pool
    should serve several calls."""
    return ProcessPoolExecutor(max_workers=workers, initializer=one_thread)


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


def decode_files(root: str, paths: list[str], crop: Crop, skip_failures: bool = False, draft: bool = False) -> tuple[np.ndarray, dict[str, str]]:
    """The model inputs of ``root/<path>`` for each path, in this process, and the files that did not decode
    (``{path: "cannot decode: ..."}``, only with ``skip_failures``; otherwise the error is raised)."""
    out = np.zeros((len(paths), crop.size, crop.size, 3), dtype=np.uint8)
    failed: dict[str, str] = {}
    for i, path in enumerate(paths):
        try:
            with Image.open(os.path.join(root, path)) as image:
                out[i] = load_for_model(image, crop, draft) if draft else crop(image)
        except (OSError, ValueError) as error:
            if not skip_failures:
                raise
            failed[path] = f"cannot decode: {error}"
    return out, failed


def decode_chunks(
    root: str | Path,
    paths: list[str] | list[Path],
    crop: Crop,
    workers: int = 0,
    *,
    chunk: int = CHUNK,
    skip_failures: bool = False,
    draft: bool = False,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[DecodedChunk]:
    """The model inputs of the files ``root/<path>``, ``chunk`` at a time and in order (``DecodedChunk``).

    ``workers``: decoding processes (0: one per core; 1, or a single chunk: this process only), started with
    ``one_thread`` and ahead of the caller: every chunk is submitted at once. Or pass a running ``pool`` to reuse
    its processes. ``skip_failures``: report files that do not decode instead of raising. ``draft``: JPEG DCT
    scaling (``load_for_model``), for a ``Preprocess`` only."""
    if draft and not isinstance(crop, Preprocess):
        raise TypeError(f"draft decoding needs a Preprocess (its crop box), not {type(crop).__name__}")
    root, paths = str(root), [str(p) for p in paths]
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    workers = workers if workers > 0 else (os.cpu_count() or 1)
    if pool is None and (workers <= 1 or len(chunks) <= 1):
        for part in chunks:
            yield (part, *decode_files(root, part, crop, skip_failures, draft))
        return
    own = pool is None
    pool = pool or decoding_pool(min(workers, len(chunks)))
    futures = [pool.submit(decode_files, root, part, crop, skip_failures, draft) for part in chunks]
    try:
        for part, future in zip(chunks, futures):
            yield (part, *future.result())
    finally:
        for future in futures:
            future.cancel()
        if own:
            pool.shutdown()


def decode_for_model(
    paths: list[str] | list[Path], preprocess: Crop, workers: int = 0, draft: bool = False, pool: ProcessPoolExecutor | None = None
) -> np.ndarray:
    """Image files -> uint8 (N, S, S, 3) model inputs, in order (``decode_chunks`` as one array; an undecodable
    file raises). ``workers``: processes (0: one per core, 1: this process only); or pass a running ``pool``."""
    out = np.empty((len(paths), preprocess.size, preprocess.size, 3), dtype=np.uint8)
    start = 0
    for part, images, _ in decode_chunks("", paths, preprocess, workers, draft=draft, pool=pool):
        out[start : start + len(part)] = images
        start += len(part)
    return out
