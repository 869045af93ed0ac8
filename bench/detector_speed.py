"""Face detection: time per photo and how often a face is found, for the detection settings we considered.

    python bench/detector_speed.py [--lfw 500] [--repeats 5]

For each setting (the longest side the photo is shrunk to before MTCNN, and MTCNN's three stage thresholds) it
prints the median time to detect the faces of the real photos in ../shared/photos scaled to about 1 and 3
megapixels, the faces found there, and the fraction of ``--lfw`` LFW images (one per person, the first
people in alphabetical order) in which a face of probability >= 0.9 is found, the face LFW is centred on.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import PHOTOS_DIR, scaled_jpeg  # noqa: E402

from model.data.lfw import image_dir
from model.faces.detector import FaceDetector
from model.settings import get_settings

PHOTOS = ("biden.jpg", "obama.jpg", "sample1.jpg", "obama_partial_face.jpg", "astronaut.png")
SETTINGS = (
    (1280, (0.6, 0.7, 0.7)),
    (640, (0.6, 0.7, 0.7)),
    (640, (0.7, 0.8, 0.9)),
)


def scaled(path: Path, megapixels: float) -> Image.Image:
    """The photo as the app would receive it: scaled, JPEG-encoded, decoded again."""
    return Image.open(io.BytesIO(scaled_jpeg(path, megapixels))).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=int, default=500, help="LFW images to detect in (0: skip)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photos", default=str(PHOTOS_DIR))
    args = parser.parse_args()

    photos = [Path(args.photos) / n for n in PHOTOS if (Path(args.photos) / n).exists()]
    sizes = {mp: [scaled(p, mp) for p in photos] for mp in (1.0, 3.0)}
    root = image_dir(get_settings().lfw_dir)
    lfw = [sorted(person.glob("*.jpg"))[0] for person in sorted(p for p in root.iterdir() if p.is_dir())][: args.lfw]
    lfw_images = [Image.open(p).convert("RGB") for p in lfw]

    print(f"{len(photos)} photos; {len(lfw_images)} LFW images; median of {args.repeats} repeats per photo")
    print("| max side | thresholds | ms / 1 MP photo | ms / 3 MP photo | faces found in the photos | LFW face found |")
    print("|---:|---|---:|---:|---|---:|")
    for max_side, thresholds in SETTINGS:
        detector = FaceDetector(max_side=max_side, thresholds=thresholds)
        times, counts = {}, []
        for mp, images in sizes.items():
            per_photo = []
            for image in images:
                faces = detector.detect(image)  # warm-up
                if mp == 1.0:
                    counts.append(len(faces))
                runs = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    detector.detect(image)
                    runs.append(time.perf_counter() - start)
                per_photo.append(np.median(runs))
            times[mp] = 1000 * float(np.median(per_photo))
        found = np.mean([bool(detector.detect(image)) for image in lfw_images]) if lfw_images else float("nan")
        print(f"| {max_side} | {', '.join(map(str, thresholds))} | {times[1.0]:.0f} | {times[3.0]:.0f} | "
              f"{' '.join(map(str, counts))} | {100 * found:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
