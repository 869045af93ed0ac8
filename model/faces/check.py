"""How close our crops come to LFW's own frames: ``doppelganger faces check``.

On one image each of LFW people the calibration did not see (Huang et al. 2007; deep-funneled, 2012):

(a) the 250x250 frame itself is detected (MTCNN, Zhang et al. 2016) and aligned to the template: a perfect
    pipeline gives the frame back;
(b) the frame is pasted into a larger canvas, scaled (0.5-2x), rotated (±15°) and shifted, as a face in a whole
    photo would be, then detected and aligned.

Per case: the mean absolute pixel difference (0-255, RGB) from the original frame inside the face box
``LFW_FACE_BOX`` (the part the network sees), and the landmark error (mean distance in pixels between the
aligned landmarks and the template's). Printed beside them for scale: the difference between (a) and (b)'s
crops of one face (what a whole photo's scale, rotation and resampling change), between a frame and itself
shifted by one pixel, and between two people's frames; and the landmarks' distance to the template before
alignment (how far LFW's own framing strays from it).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from model.faces.alignment import TEMPLATE_PATH, Template, align_face, apply_transform, face_transform
from model.faces.lfw_template import FRAME_CENTRE, deepfunneled_dir, sample_images
from model.faces.photo_decode import load_image
from model.faces.detector import Face, FaceDetector, nearest_face
from model.transforms import LFW_FACE_BOX

BLACK = 16
"""A pixel whose channels are all below this counts as black (JPEG noise lifts LFW's black borders a little)."""


@dataclass
class Figures:
    """Per-image measurements of one case, and the images where no face was found."""

    mae: list[float] = field(default_factory=list)
    landmark_error: list[float] = field(default_factory=list)
    missed: int = 0

    def add(self, original: np.ndarray, face: Face | None, image: Image.Image, template: Template) -> np.ndarray | None:
        """Measures ``face`` of ``image`` aligned against ``original``; returns the aligned crop."""
        if face is None:
            self.missed += 1
            return None
        crop = np.asarray(align_face(image, face, template))
        self.mae.append(face_box_mae(crop, original))
        self.landmark_error.append(landmark_error(apply_transform(face_transform(face, template), face.landmarks), template))
        return crop

    def line(self, name: str) -> str:
        mae, error = np.asarray(self.mae), np.asarray(self.landmark_error)
        return (
            f"{name:<38} {len(mae):>5} {self.missed:>6}   {mae.mean():6.1f} {np.median(mae):6.1f}"
            f" {np.percentile(mae, 90):6.1f}   {error.mean():5.2f} {np.percentile(error, 90):5.2f}"
        )


def face_box_mae(crop: np.ndarray, original: np.ndarray) -> float:
    """Mean absolute difference (0-255) of two frames inside ``LFW_FACE_BOX``."""
    x0, y0, x1, y1 = LFW_FACE_BOX
    return float(np.abs(crop[y0:y1, x0:x1].astype(np.float64) - original[y0:y1, x0:x1]).mean())


def landmark_error(landmarks: np.ndarray, template: Template) -> float:
    """Mean distance in pixels between five landmarks and the template's."""
    return float(np.linalg.norm(landmarks - template.landmarks, axis=1).mean())


def black_border_share(frame: np.ndarray) -> float:
    """Share of the outer ring of pixels of a frame that is black."""
    ring = np.concatenate([frame[0], frame[-1], frame[1:-1, 0], frame[1:-1, -1]])
    return float((ring.max(axis=1) < BLACK).mean())


def whole_photo(frame: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, tuple[float, float]]:
    """``frame`` scaled (0.5-2x), rotated (±15°) and pasted at a random place of a larger plain canvas; returns
    the canvas and where the frame's centre landed in it."""
    scale, angle = rng.uniform(0.5, 2.0), rng.uniform(-15.0, 15.0)
    background = tuple(int(v) for v in rng.integers(0, 256, size=3))
    side = round(frame.width * scale)
    pasted = frame.resize((side, side), Image.Resampling.BICUBIC).rotate(
        angle, Image.Resampling.BICUBIC, expand=True, fillcolor=background
    )
    margin = rng.integers(0, 400, size=4)
    canvas = Image.new("RGB", (pasted.width + margin[0] + margin[1], pasted.height + margin[2] + margin[3]), background)
    canvas.paste(pasted, (int(margin[0]), int(margin[2])))
    return canvas, (margin[0] + pasted.width / 2, margin[2] + pasted.height / 2)


def main(args: argparse.Namespace) -> None:
    import torch

    from model.settings import get_settings

    torch.set_num_threads(args.threads)
    if args.sample < 2:
        raise ValueError("--sample must be at least 2")
    path = Path(args.template) if args.template else TEMPLATE_PATH
    template, calibration = Template.load(path), json.loads(path.read_text())
    images = sample_images(
        deepfunneled_dir(get_settings().lfw_dir), args.sample, calibration["seed"], skip=calibration["images_tried"]
    )
    detector, rng = FaceDetector(), np.random.default_rng(calibration["seed"])
    frame_case, photo_case = Figures(), Figures()
    shift_mae, before, border, between, strangers = [], [], [], [], []
    previous = None
    start = time.perf_counter()
    for image_path in images:
        frame = load_image(image_path)
        original = np.asarray(frame)
        border.append(black_border_share(original))
        shift_mae.append(face_box_mae(np.roll(original, 1, axis=1), original))
        if previous is not None:
            strangers.append(face_box_mae(previous, original))
        previous = original
        face = nearest_face(detector.detect(frame), FRAME_CENTRE)
        frame_crop = frame_case.add(original, face, frame, template)
        if face is not None:
            before.append(landmark_error(face.landmarks, template))
        canvas, centre = whole_photo(frame, rng)
        photo_crop = photo_case.add(original, nearest_face(detector.detect(canvas), centre), canvas, template)
        if frame_crop is not None and photo_crop is not None:
            between.append(face_box_mae(photo_crop, frame_crop))
    print(f"{len(images)} held-out LFW images (people not in the calibration sample of {path.name}), "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'case':<38} {'faces':>5} {'missed':>6}   {'MAE':>6} {'median':>6} {'p90':>6}   {'lm px':>5} {'p90':>5}")
    print(frame_case.line("(a) LFW frame, detect + align"))
    print(photo_case.line("(b) pasted in a photo, detect + align"))
    print(f"(b) against (a), same face              MAE {np.mean(between):.1f}")
    print(f"reference: LFW frame shifted by 1 px        MAE {np.mean(shift_mae):.1f}")
    print(f"reference: two people's LFW frames          MAE {np.mean(strangers):.1f}")
    print(f"reference: LFW landmarks before alignment   {np.mean(before):.2f} px from the template")
    print(f"LFW frames' outer pixel ring that is black (all channels < {BLACK}): {100 * np.mean(border):.1f}% "
          f"(frames with any: {100 * np.mean(np.asarray(border) > 0):.1f}%)")
