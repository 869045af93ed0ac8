"""One MTCNN detector for the whole session (building it loads three networks)."""

from __future__ import annotations

import pytest
import torch

from model.faces.detector import FaceDetector


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    torch.set_num_threads(1)
    return FaceDetector()
