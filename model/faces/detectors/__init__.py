"""Face detectors, one per file, each returning ``list[Face]`` the same way (``base``), and the registry that builds
one by name.

| name | detector | file |
|---|---|---|
| ``yunet`` | YuNet (Wu et al., Machine Intelligence Research 2023) in OpenCV's ``FaceDetectorYN`` | ``yunet.py`` |
| ``openvino`` | Open Model Zoo's SSD (Liu et al., ECCV 2016), in OpenVINO | ``openvino_ssd.py`` |
| ``mtcnn`` | MTCNN (Zhang et al., IEEE SPL 2016), facenet-pytorch's port | ``mtcnn.py`` |

YuNet and the SSD take their landmarks from Open Model Zoo's landmark regressor (``landmark_regressor.py``) on
each face's box; ``base.py`` holds what they share (``Face``, ``Detector``, ``NoFaceError``, the face choice).

The ``detector`` setting (``DOPPELGANGER_DETECTOR``) names the one the app and the index use for photos;
``bench/detection.py`` measures them on labelled photos (docs/faces.md, "Detectors"). This package's own module
imports nothing heavy (the command line reads ``DETECTORS`` for its ``--detector`` choices); each detector's
module is imported when one is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.faces.detectors.names import DEFAULT_DETECTOR, DETECTORS, check_detector

if TYPE_CHECKING:
    from model.faces.detectors.base import Detector


def detector_class(name: str) -> type[Detector]:
    """The class of detector ``name`` (one of ``DETECTORS``)."""
    check_detector(name)
    if name == "yunet":
        from model.faces.detectors.yunet import YuNetDetector

        return YuNetDetector
    if name == "openvino":
        from model.faces.detectors.openvino_ssd import OpenVinoSsdDetector

        return OpenVinoSsdDetector
    from model.faces.detectors.mtcnn import MtcnnDetector

    return MtcnnDetector


def build_detector(name: str, **options) -> Detector:
    """The detector ``name`` (one of ``DETECTORS``) with ``options`` (its constructor's keyword arguments, e.g.
    ``min_probability``, ``max_side``, ``threads``). Nothing is loaded until its first ``detect``."""
    return detector_class(name)(**options)


__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "build_detector", "check_detector", "detector_class"]
