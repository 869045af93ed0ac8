"""Learning where MTCNN's landmarks sit in LFW's deep-funneled 250x250 frame: ``doppelganger faces calibrate``.

The gallery's framing (a Viola-Jones box enlarged 2.2x, then deep funneling; Huang et al. 2007, 2012) is
defined by what it did to LFW's images, so we measure it on them: MTCNN (Zhang et al. 2016) runs on one
image each of a seeded sample of people, and the face nearest the frame's centre gives five landmarks and a
box. Their per-coordinate medians are the template uploads are aligned to; the spreads (1.4826 x the median
absolute deviation, a robust standard deviation) say how tightly LFW itself keeps to it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from model.data.lfw import DatasetMissingError
from model.faces.photo_decode import load_image
from model.faces.detector import FaceDetector, nearest_face
from model.transforms import LFW_FRAME

DEFAULT_SEED = 0
FRAME_CENTRE = (LFW_FRAME / 2, LFW_FRAME / 2)
"""LFW's labelled face is the one nearest the centre of its frame; other faces may show near the edges."""
MAD_TO_STD = 1.4826
"""Scales a median absolute deviation to a standard deviation for normally distributed values."""


def deepfunneled_dir(lfw_dir: Path) -> Path:
    """LFW's deep-funneled image folder, the frame the gallery is in."""
    root = Path(lfw_dir) / "lfw-deepfunneled"
    if not root.is_dir():
        raise DatasetMissingError(
            f"{root} not found: calibration needs LFW's deep-funneled images (`doppelganger data download lfw`)"
        )
    return root


def sample_images(root: Path, count: int, seed: int = DEFAULT_SEED, skip: int = 0) -> list[Path]:
    """One image each of ``count`` people, after the first ``skip``, of a seeded shuffle of LFW's people.

    Every person's image is drawn once per seed, so ``skip=n`` yields people disjoint from ``count=n``'s.
    """
    people = sorted(p for p in root.iterdir() if p.is_dir())
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(people))
    picks = rng.integers(0, 2**31, size=len(people))
    images = []
    for i in order[skip : skip + count]:
        files = sorted(people[i].glob("*.jpg"))
        images.append(files[picks[i] % len(files)])
    return images


def calibrate(images: list[Path], detector: FaceDetector, seed: int, source: str) -> dict:
    """The template of ``images`` (LFW frames) as the JSON-ready dict ``lfw_template.json`` holds."""
    landmarks, boxes = [], []
    for path in images:
        face = nearest_face(detector.detect(load_image(path)), FRAME_CENTRE)
        if face is not None:
            landmarks.append(face.landmarks)
            boxes.append(face.box)
    if not landmarks:
        raise ValueError("MTCNN found no face in the LFW sample: is this the deep-funneled LFW?")
    points, box = np.asarray(landmarks), np.asarray(boxes)

    def median(values: np.ndarray) -> np.ndarray:
        return np.round(np.median(values, axis=0), 2)

    def spread(values: np.ndarray) -> np.ndarray:
        return np.round(MAD_TO_STD * np.median(np.abs(values - np.median(values, axis=0)), axis=0), 2)

    return {
        "frame": LFW_FRAME,
        "landmark_order": ["left eye", "right eye", "nose", "mouth left", "mouth right"],
        "landmarks": median(points).tolist(),
        "landmark_spread": spread(points).tolist(),
        "box": median(box).tolist(),
        "box_spread": spread(box).tolist(),
        "sample_size": len(landmarks),
        "images_tried": len(images),
        "min_probability": detector.min_probability,
        "seed": seed,
        "source": source,
    }


def main(args: argparse.Namespace) -> None:
    import torch

    from model.faces.alignment import TEMPLATE_PATH
    from model.settings import get_settings

    torch.set_num_threads(args.threads)
    if args.sample < 1:
        raise ValueError("--sample must be at least 1")
    images = sample_images(deepfunneled_dir(get_settings().lfw_dir), args.sample, args.seed)
    source = f"doppelganger faces calibrate --sample {args.sample} --seed {args.seed}"
    start = time.perf_counter()
    template = calibrate(images, FaceDetector(), args.seed, source)
    out = Path(args.out) if args.out else TEMPLATE_PATH
    out.write_text("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in template.items()) + "\n}\n")
    print(f"{template['sample_size']} of {len(images)} LFW images had a face ({time.perf_counter() - start:.0f} s)")
    for name, point, spread in zip(template["landmark_order"], template["landmarks"], template["landmark_spread"]):
        print(f"  {name:<12} x {point[0]:6.1f} ± {spread[0]:4.1f}   y {point[1]:6.1f} ± {spread[1]:4.1f}")
    print(f"  box          {template['box']} ± {template['box_spread']}")
    print(f"template written to {out}")
