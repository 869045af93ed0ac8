"""The look-alike service: a photo in, every face's nearest gallery people out, with the time each stage took.

The command line (``doppelganger match``) and the REST endpoint return the same dictionary::

    {"faces": [{"box": [x0, y0, x1, y1], "probability": p,
                "matches": [{"person", "image_id", "similarity", "distance", "same_person"}, ...]}, ...],
     "query_face": i, "model": "<checkpoint sha-256>", "index": "<index version>",
     "timings_ms": {"decode", "detect", "crop", "embed", "search", "total"}}

Faces come largest first; ``query_face`` is the one the caller asked about (the largest by default). Look-alike
mode: every face gets its ``k`` best matches whatever their scores, each with a calibrated ``similarity`` (0 to
100) and ``same_person``, whether it passes the threshold fitted on LFW pairs, so a caller can say "no strong
match" honestly. The photo is decoded in memory and never written anywhere.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.calibration import Calibration
from index.storage import GalleryIndex
from model.data.tasks import run_crop
from model.faces.crop import AlignedCrop, FrameCrop, crop_for
from model.faces.detectors import build_detector
from model.faces.detectors.base import Detector
from model.faces.photo_decode import MAX_BYTES, MAX_PIXELS
from model.faces.photo_input import photo_input
from model.hashing import file_sha256
from model.inference import Embedder
from model.run import RunDir


class MatchTimeoutError(RuntimeError):
    """The match ran past its deadline; it stopped at the next stage instead of finishing."""

DEFAULT_K = 5
MAX_K = 100
"""The most look-alikes one match returns; a server's own limit (``AppSettings.max_k``) may only be lower."""


class Matcher:
    """Searches one loaded index with the model that built it."""

    def __init__(
        self, index: GalleryIndex, embedder: Embedder, detector: Detector, crop: FrameCrop | AlignedCrop | None = None,
        max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
    ) -> None:
        """``crop`` makes the model's input from a detected face (``model.faces.crop``; by default the LFW-frame
        crop of the networks trained from ImageNet weights)."""
        if embedder.dim != index.manifest.dim or embedder.image_size != index.manifest.image_size:
            raise ValueError(
                f"the embedder (dimension {embedder.dim}, {embedder.image_size}px) does not fit the index "
                f"(dimension {index.manifest.dim}, {index.manifest.image_size}px)"
            )
        self.index = index
        self.embedder = embedder
        self.detector = detector
        # A match searches one to a few queries, which FAISS answers on one thread in well under a millisecond; its
        # OpenMP team would instead wake beside PyTorch's (MTCNN's) and cost 5 to 20 ms of contention
        # (docs/performance.md). The setting is per process: builds in the same process add and search single-
        # threaded too, which at gallery sizes the app serves takes a fraction of a second.
        faiss.omp_set_num_threads(1)
        self.calibration = Calibration.from_dict(index.manifest.calibration)
        self.crop = crop or crop_for("lfw", embedder.image_size)
        self.max_bytes, self.max_pixels = max_bytes, max_pixels

    @classmethod
    def load(
        cls, index_dir: Path, run_dir: Path | None = None, detector: Detector | str | None = None, threads: int = 0,
        **limits: int,
    ) -> "Matcher":
        """The index in ``index_dir`` with its model: the run the manifest names, or ``run_dir``, which must hold
        the very checkpoint that built the index (``ModelMismatchError`` otherwise). ``detector``: a detector, or
        the name of one (``model.faces.detectors.DETECTORS``; default: the ``detector`` setting's). ``threads``: the
        embedder's and a named detector's threads (0: every core)."""
        if detector is None or isinstance(detector, str):
            from model.settings import get_settings

            detector = build_detector(detector or get_settings().detector, threads=threads)
        index = GalleryIndex.load(index_dir)
        try:
            run = RunDir(run_dir or index.manifest.model_run)
            checkpoint = run.checkpoint("best")
            if not checkpoint.exists():
                raise FileNotFoundError(f"{checkpoint} does not exist: the index needs the model that built it")
            index.require_model(file_sha256(checkpoint))
            crop = run_crop(run.config())
            return cls(index, Embedder.from_run(run.path, threads=threads), detector, crop, **limits)
        except BaseException:
            index.close()
            raise

    def rank_of(self, photo: bytes | str | Path, person: str, face: int | None = None, aligned: bool = False) -> list[int]:
        """Where ``person``'s gallery images rank (1 = the best match) for one face of ``photo``, searching the
        whole gallery: how far a person is from being found first. Empty when the gallery does not hold them."""
        found = photo_input(
            photo, self.detector, self.crop, face=face, every_face=False, detect=not aligned, max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
        )
        embedding = self.embedder.embed(found.inputs)
        ranked = self.index.search(embedding, len(self.index))[0]
        return [rank for rank, m in enumerate(ranked, 1) if m.person == person]

    def match(
        self, photo: bytes | str | Path, k: int = DEFAULT_K, face: int | None = None, aligned: bool = False,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Look-alikes of every face of ``photo``; ``aligned`` takes the photo as one LFW-style face frame.

        ``deadline`` (a ``time.monotonic()`` value): past it, the match stops before its next stage with
        ``MatchTimeoutError``, so that a server under too much load does not finish work nobody waits for."""
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round((now - clock) * 1000.0, 2)
            clock = now
            if deadline is not None and time.monotonic() > deadline:
                raise MatchTimeoutError(f"the match ran past its time limit after the {stage} stage")

        if deadline is not None and time.monotonic() > deadline:
            raise MatchTimeoutError("the match waited past its time limit before it could start")

        found = photo_input(
            photo, self.detector, self.crop, face=face, detect=not aligned, max_bytes=self.max_bytes,
            max_pixels=self.max_pixels, on_stage=lap,
        )
        faces, query = found.faces, found.query
        embeddings = self.embedder.embed(found.inputs)
        lap("embed")
        results = self.index.search(embeddings, k)
        lap("search")
        timings["total"] = round((time.perf_counter() - started) * 1000.0, 2)
        out_faces = []
        for detected, matches in zip(faces, results):
            cosines = np.array([m.cosine for m in matches])
            similarity = self.calibration.similarity(cosines)
            same = self.calibration.same_person(cosines)
            out_faces.append({
                "box": [round(float(v), 1) for v in detected.box],
                "probability": round(float(detected.probability), 4),
                "matches": [
                    {
                        "person": m.person, "image_id": m.image_id, "similarity": round(float(s), 1),
                        "distance": round(m.distance, 4), "same_person": bool(flag),
                    }
                    for m, s, flag in zip(matches, similarity, same)
                ],
            })
        return {
            "faces": out_faces, "query_face": query, "model": self.index.manifest.model_hash,
            "index": self.index.version, "timings_ms": timings,
        }
