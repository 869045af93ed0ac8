"""The face detection names the rest of the project imports: ``Face``, ``FaceDetector`` (MTCNN), ``NoFaceError``,
``select_face`` and ``nearest_face``.

The detectors themselves live in ``model.faces.detectors``, one per file (MTCNN, YuNet, Open Model Zoo's SSD),
with ``build_detector(name)``; ``FaceDetector`` is MTCNN's, which aligns LFW's frames (``model.faces.crop``) and
stays the default for photos until the ``detector`` setting names another.
"""

from __future__ import annotations

from model.faces.detectors.base import Face, NoFaceError, nearest_face, select_face
from model.faces.detectors.mtcnn import MAX_SIDE, THRESHOLDS, MtcnnDetector

FaceDetector = MtcnnDetector
"""MTCNN (Zhang et al., IEEE SPL 2016) with the photo settings: ``model.faces.detectors.mtcnn.MtcnnDetector``."""

__all__ = ["MAX_SIDE", "THRESHOLDS", "Face", "FaceDetector", "NoFaceError", "nearest_face", "select_face"]
