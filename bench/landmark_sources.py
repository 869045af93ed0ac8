"""Which landmarks to align LFW's frames with, for the pretrained face network: View 2 accuracy of each source.

    python bench/landmark_sources.py --source fixed|regressor|ovdet|onet|mtcnn [--min-face 20]

Every View 2 image (7,701) is aligned onto ``face-reidentification-retail-0095``'s template from the landmarks of
one source, embedded by the published network in OpenVINO (one thread), and the 6,000 pairs are scored with the
official 10 folds. The sources:

- ``fixed``: LFW's calibrated template (``model/faces/lfw_template.json``), the same for every image;
- ``regressor``: Open Model Zoo's ``landmarks-regression-retail-0009`` on the template's face box enlarged 1.15x;
- ``ovdet``: Open Model Zoo's ``face-detection-retail-0004`` first (the box nearest the centre, else the
  template's), then the regressor on that box enlarged 1.15x: the pipeline of Open Model Zoo's demo;
- ``onet``: MTCNN's last stage alone on the template's face box;
- ``mtcnn``: all of MTCNN with facenet-pytorch's own thresholds (0.6, 0.7, 0.7) and faces from ``--min-face``
  pixels, the face nearest the centre (the template's landmarks where it finds none).

What the app uses (MTCNN, the face nearest the centre) is measured by ``doppelganger evaluate runs/default``.
docs/faces.md has the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from model.data.lfw import image_dir, read_pairs
from model.evaluation.verification import kfold_verification
from model.faces.alignment import Template, align_face, lfw_template
from model.faces.detector import Face, FaceDetector, nearest_face
from model.networks.backbones import FACE_INPUTS
from model.pretrained import model_file
from model.settings import get_settings

SOURCES = ("fixed", "regressor", "ovdet", "onet", "mtcnn")
LFW_BOX = (78.38, 64.68, 170.93, 188.11)
"""The median MTCNN box of LFW's frames (``lfw_template.json``)."""


def compiled(name: str):
    import openvino as ov

    core = ov.Core()
    return core.compile_model(core.read_model(model_file(name)), "CPU", {"INFERENCE_NUM_THREADS": 1})


def bgr_batch(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)[:, :, ::-1].transpose(2, 0, 1)[None]


def regressor_landmarks(regressor, image: Image.Image, box, scale: float = 1.15) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * scale, (y1 - y0) * scale
    left, top, right, bottom = (int(round(v)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    crop = image.crop((left, top, right, bottom)).resize((48, 48), Image.Resampling.BILINEAR)
    points = regressor(bgr_batch(crop))[0].reshape(5, 2)
    return points * [right - left, bottom - top] + [left, top]


def detector_box(detector, image: Image.Image):
    out = detector(bgr_batch(image.resize((300, 300), Image.Resampling.BILINEAR)))[0].reshape(-1, 7)
    width, height = image.size
    boxes = [tuple(row[3:7] * [width, height, width, height]) for row in out[out[:, 2] > 0.5]]
    if not boxes:
        return LFW_BOX
    return min(boxes, key=lambda b: (b[0] + b[2] - width) ** 2 + (b[1] + b[3] - height) ** 2)


def onet_landmarks(mtcnn, image: Image.Image, box) -> np.ndarray:
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    x0, y0, x1, y1 = box
    side, cx, cy = max(x1 - x0, y1 - y0), (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    right, bottom = int(round(cx + side / 2)), int(round(cy + side / 2))
    width, height = image.size
    pad = (max(0, -left), max(0, right - width), max(0, -top), max(0, bottom - height))
    padded = F.pad(pixels, pad)
    crop = padded[:, :, top + pad[2] : bottom + pad[2], left + pad[0] : right + pad[0]]
    crop = F.interpolate(crop, size=(48, 48), mode="area")
    with torch.no_grad():
        _, points, _ = mtcnn.onet((crop - 127.5) * 0.0078125)
    size = right - left
    return np.stack([size * points[0, :5].numpy() + left, size * points[0, 5:].numpy() + top], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=SOURCES, required=True)
    parser.add_argument("--min-face", type=int, default=20, help="mtcnn: the smallest face searched for, in pixels")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = get_settings()
    pairs = read_pairs(settings.lfw_dir / "pairs.txt")
    root = image_dir(settings.lfw_dir)
    paths = sorted(set(pairs.left) | set(pairs.right))
    face_input = FACE_INPUTS["face_reid_0095"]
    template = Template(np.asarray(face_input.landmarks) * face_input.size, face_input.size)
    network = compiled("face-reidentification-retail-0095")
    regressor = compiled("landmarks-regression-retail-0009")
    detector = compiled("face-detection-retail-0004")
    mtcnn = FaceDetector().mtcnn
    full = FaceDetector(min_face_size=args.min_face, min_probability=0.0, thresholds=(0.6, 0.7, 0.7))
    embeddings, seconds = {}, []
    for path in paths:
        image = Image.open(root / path).convert("RGB")
        start = time.perf_counter()
        if args.source == "fixed":
            landmarks = lfw_template().landmarks
        elif args.source == "regressor":
            landmarks = regressor_landmarks(regressor, image, LFW_BOX)
        elif args.source == "ovdet":
            landmarks = regressor_landmarks(regressor, image, detector_box(detector, image))
        elif args.source == "onet":
            landmarks = onet_landmarks(mtcnn, image, LFW_BOX)
        else:
            face = nearest_face(full.detect(image), (image.width / 2, image.height / 2))
            landmarks = face.landmarks if face is not None else lfw_template().landmarks
        crop = align_face(image, Face((0, 0, 1, 1), 1.0, np.asarray(landmarks)), template)
        vector = network(bgr_batch(crop))[0].reshape(-1)
        seconds.append(time.perf_counter() - start)
        embeddings[path] = vector / np.linalg.norm(vector)
    left = np.stack([embeddings[p] for p in pairs.left])
    right = np.stack([embeddings[p] for p in pairs.right])
    result = kfold_verification(np.linalg.norm(left - right, axis=1), pairs.same, pairs.fold)
    print(f"{args.source}: View 2 {100 * result['acc']:.2f} ± {100 * result['std']:.2f} (AUC {result['auc']:.5f}), "
          f"{1000 * np.mean(seconds):.1f} ms per image (landmarks, alignment, embedding; one thread)")


if __name__ == "__main__":
    main()
