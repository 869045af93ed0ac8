"""The detectors' names, importing nothing: ``model.settings`` validates the ``detector`` setting against them
without loading a detector (whose weights' paths come from the settings)."""

from __future__ import annotations

DETECTORS = ("yunet", "openvino", "mtcnn")
"""The detectors ``model.faces.detectors.build_detector`` knows, by name."""
DEFAULT_DETECTOR = "mtcnn"
"""The detector of photos when the ``detector`` setting names none."""


def check_detector(name: str) -> str:
    """``name`` when it is a known detector, else ``ValueError`` listing them."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")
    return name
