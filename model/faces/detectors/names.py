"""The detectors' names, importing nothing: ``model.settings`` validates the ``detector`` setting against them
without loading a detector (whose weights' paths come from the settings)."""

from __future__ import annotations

DETECTORS = ("yunet", "openvino", "mtcnn")
"""The detectors ``model.faces.detectors.build_detector`` knows, by name."""
DEFAULT_DETECTOR = "yunet"
"""The detector of photos when the ``detector`` setting names none: YuNet at 320 px with Open Model Zoo's landmark
regressor found every upright face of the labelled benchmark, small ones included, with no false positive, 11 times
faster than MTCNN (``bench/detection.py``, docs/faces.md "Detectors")."""


def check_detector(name: str) -> str:
    """``name`` when it is a known detector, else ``ValueError`` listing them."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")
    return name
