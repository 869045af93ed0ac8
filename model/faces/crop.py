"""From a photo or an LFW-style frame to the exact input of a model: one crop object per model.

A model's crop turns two things into its uint8 input (S, S, 3):

- ``crop.from_face(image, face)``: a face detected in a photo (its five landmarks);
- ``crop(frame)``: a face frame (an LFW gallery image, a CelebA photo, an upload sent with ``detect=false``),
  whose subject is the face nearest its centre.

Two kinds exist:

- ``FrameCrop``, for the networks we train from ImageNet weights on LFW's frames: a photo's face is first put into
  LFW's 250x250 frame (``alignment.lfw_template``), then the centre box is resized (``model.transforms``).
- ``AlignedCrop``, for a pretrained face backbone: the face is warped straight onto that backbone's five-point
  template at its input size, as it was trained. In a frame the landmarks come from the detector; where it
  finds no face (rare in LFW: profile views, heavy occlusion), from LFW's calibrated template scaled to the frame,
  since LFW centres its subject.

Both are picklable and build their detector lazily, so process pools can decode with them (``ImageCache``, index
builds). ``tag`` names the crop in cache files: two crops with one tag give the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from model.faces.alignment import Template, align_face, lfw_template
from model.faces.detector import Face, FaceDetector, nearest_face
from model.transforms import LFW_FRAME, Preprocess, preprocess_for

FRAME_DETECTOR = {"min_face_size": 20, "thresholds": (0.6, 0.7, 0.7), "min_probability": 0.0}
"""MTCNN's settings for face frames: facenet-pytorch's own thresholds, faces from 20 pixels, any probability (the
frame is known to hold a face). Its landmarks align LFW's frames better than the app's faster photo settings:
View 2 99.65% against 99.42% with faces from a quarter of the frame and thresholds 0.7/0.8/0.9
(``bench/landmark_sources.py``, docs/faces.md)."""


def template_face(frame: Image.Image) -> Face:
    """The face of a frame framed as LFW frames its subjects, without detection: LFW's calibrated landmarks scaled
    to the frame's size (probability 0)."""
    width, height = frame.size
    scale = np.array([width, height], dtype=np.float64) / LFW_FRAME
    return Face((0.0, 0.0, float(width), float(height)), 0.0, lfw_template().landmarks * scale)


@dataclass(frozen=True)
class FrameCrop:
    """The centre of LFW's frame resized to ``preprocess.size``: the input of our ImageNet-initialised networks."""

    preprocess: Preprocess

    @property
    def size(self) -> int:
        return self.preprocess.size

    @property
    def tag(self) -> str:
        return self.preprocess.tag

    def __call__(self, frame: Image.Image, detect: bool = True) -> np.ndarray:
        template = lfw_template()
        if frame.size != (template.size, template.size):
            frame = frame.convert("RGB").resize((template.size, template.size), Image.Resampling.BILINEAR)
        return self.preprocess(frame)

    def from_face(self, image: Image.Image, face: Face) -> np.ndarray:
        return self.preprocess(align_face(image, face, lfw_template()))


@dataclass(frozen=True)
class AlignedCrop:
    """A face warped onto ``landmarks`` (fractions of the side) at ``size`` x ``size``: a face backbone's input."""

    size: int
    landmarks: tuple[tuple[float, float], ...]
    name: str
    """Names the template in ``tag`` (the backbone it belongs to)."""
    _detector: list = field(default_factory=list, repr=False, compare=False)

    @property
    def tag(self) -> str:
        return f"aligned-{self.name}-mtcnn20-{self.size}"

    @property
    def template(self) -> Template:
        return Template(landmarks=np.asarray(self.landmarks, dtype=np.float64) * self.size, size=self.size)

    def __getstate__(self) -> dict:
        return {"size": self.size, "landmarks": self.landmarks, "name": self.name}

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_detector", [])

    def detector(self) -> FaceDetector:
        if not self._detector:
            self._detector.append(FaceDetector(**FRAME_DETECTOR))
        return self._detector[0]

    def frame_face(self, frame: Image.Image, detect: bool = True) -> Face:
        """The subject of a face frame: the detected face nearest its centre, else LFW's template scaled to it."""
        width, height = frame.size
        face = nearest_face(self.detector().detect(frame), (width / 2, height / 2)) if detect else None
        return face if face is not None else template_face(frame)

    def __call__(self, frame: Image.Image, detect: bool = True) -> np.ndarray:
        frame = frame.convert("RGB")
        return self.from_face(frame, self.frame_face(frame, detect))

    def from_face(self, image: Image.Image, face: Face) -> np.ndarray:
        return np.asarray(align_face(image, face, self.template), dtype=np.uint8)


def crop_for(dataset: str, image_size: int, backbone: str = "mobilenet_v2") -> FrameCrop | AlignedCrop | Preprocess:
    """The crop that makes ``backbone``'s input from ``dataset``'s images: aligned on the backbone's template for a
    pretrained face backbone (at its own input size), LFW's frame centre for the others; a plain resize for signs."""
    from model.networks.backbones import FACE_INPUTS

    face_input = FACE_INPUTS.get(backbone)
    if face_input is not None:
        if dataset not in ("lfw", "celeba"):
            raise ValueError(f"{backbone} is a face model: it cannot learn {dataset}; choose an ImageNet backbone")
        if image_size != face_input.size:
            raise ValueError(f"{backbone} takes {face_input.size}x{face_input.size} faces: use --image-size {face_input.size}")
        return AlignedCrop(face_input.size, face_input.landmarks, backbone)
    if dataset == "lfw":
        return FrameCrop(preprocess_for("lfw", image_size))
    return preprocess_for(dataset, image_size)
