"""The whole path from a photo to the LFW frame the gallery images are in: detect, select, align."""

from __future__ import annotations

from PIL import Image

from model.faces.alignment import Template, align_face, lfw_template
from model.faces.detector import FaceDetector, select_face


def lfw_frame(
    image: Image.Image,
    detector: FaceDetector,
    template: Template | None = None,
    index: int | None = None,
    assume_aligned: bool = False,
) -> Image.Image:
    """``image``'s face (the largest, or the ``index``-th by size) in LFW's 250x250 frame.

    With ``assume_aligned`` the image already is such a frame (an LFW image, a crop made before) and is only
    resized. Raises ``NoFaceError`` when no face is found.
    """
    template = template or lfw_template()
    if assume_aligned:
        return image.convert("RGB").resize((template.size, template.size), Image.Resampling.BILINEAR)
    return align_face(image, select_face(detector.detect(image), index), template)
