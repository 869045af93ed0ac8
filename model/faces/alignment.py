"""Putting a detected face into LFW's 250x250 frame with a similarity transform onto a landmark template.

LFW (Huang, Ramesh, Berg, Learned-Miller, "Labeled Faces in the Wild", UMass TR 07-49, 2007) framed each face
found by the Viola-Jones detector (Viola and Jones, CVPR 2001) in its box enlarged 2.2 times, scaled to 250x250;
the gallery we search is its deep-funneled version (Huang, Mattar, Lee, Learned-Miller, NIPS 2012), aligned by
learned congealing. Neither step can be replayed on an upload, so we learn where MTCNN's five landmarks sit in
that frame (``calibration``: the median over LFW images, ``lfw_template.json``) and map an upload's landmarks
onto them with the least-squares similarity (rotation, uniform scale, translation; Umeyama, IEEE PAMI 1991).
A similarity keeps the face's proportions, as LFW's frame does; a full affine fit would squash faces onto the
average shape.

Where the frame reaches past the photo, it is filled with black: the deep-funneled images are (measured by
``doppelganger faces check``: most of their border pixels are near black).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from model.faces.detector import Face
from model.transforms import LFW_FRAME

TEMPLATE_PATH = Path(__file__).with_name("lfw_template.json")


@dataclass(frozen=True, eq=False)
class Template:
    """Where the five MTCNN landmarks sit in a ``size`` x ``size`` frame, (5, 2) pixel coordinates."""

    landmarks: np.ndarray
    size: int = LFW_FRAME

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH) -> Template:
        """The template written by ``doppelganger faces calibrate``."""
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: run `doppelganger faces calibrate --out {path}`")
        data = json.loads(path.read_text())
        return cls(landmarks=np.asarray(data["landmarks"], dtype=np.float64), size=int(data["frame"]))


@functools.cache
def lfw_template() -> Template:
    """The committed LFW template, read once."""
    return Template.load()


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix ``[s R | t]`` minimising ``sum |s R p + t - q|^2`` over point pairs (p, q) (Umeyama 1991)."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    p, q = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(q.T @ p / len(p))
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])  # a rotation, never a reflection
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(singular) @ d) / p.var(axis=0).sum())
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (N, 2) mapped by a 2x3 affine ``matrix``."""
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


def face_transform(face: Face, template: Template) -> np.ndarray:
    """The similarity taking ``face``'s landmarks onto ``template``'s, in the pixel-index coordinates MTCNN uses."""
    return similarity_transform(face.landmarks, template.landmarks)


def align_face(image: Image.Image, face: Face, template: Template | None = None) -> Image.Image:
    """``face`` of ``image`` warped into the template's frame (RGB, ``template.size`` squared), bilinear.

    A face much larger than the frame is first shrunk by a whole factor with a box filter, so the bilinear warp
    never skips pixels (no aliasing).
    """
    template = template or lfw_template()
    matrix = face_transform(face, template)
    factor = max(1, math.floor(1.0 / math.hypot(matrix[0, 0], matrix[1, 0])))
    if factor > 1:
        image = image.reduce(factor)
    # PIL samples pixel (i, j) at its centre (i + 0.5, j + 0.5) and scales continuous coordinates; MTCNN
    # numbers pixel centres 0, 1, ...: shift into continuous coordinates, scale by the reduction, shift back.
    to_continuous = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    reduced = np.diag([factor, factor, 1.0])
    forward = np.vstack([matrix, [0.0, 0.0, 1.0]])
    output_to_input = np.linalg.inv(reduced) @ to_continuous @ np.linalg.inv(forward) @ np.linalg.inv(to_continuous)
    return image.convert("RGB").transform(
        (template.size, template.size),
        Image.Transform.AFFINE,
        data=tuple(output_to_input[:2].ravel()),
        resample=Image.Resampling.BILINEAR,
        fillcolor=(0, 0, 0),
    )
