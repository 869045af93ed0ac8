"""Face detection on labelled photos: recall, false positives and time of each detector (``model.faces.detectors``).

    python bench/detection.py [--lfw 500] [--seed 0] [--photos DIR] [--repeats 5] [--detectors yunet,openvino,mtcnn]
                              [--set DETECTOR.OPTION=VALUE] [--sweep] [--draw DIR] [--json FILE] [--cache DIR]
    python bench/detection.py --propose PHOTO [--draw DIR]

The data, each photo also rotated by +30 and -30 degrees (about its centre, the canvas enlarged to hold it),
scaled to half and to a quarter of its size (Lanczos), and JPEG-compressed at quality 10 (the labels follow
each change; at a quarter, most faces of the group photos are under 40 pixels):

- ``--lfw`` LFW frames drawn with ``--seed`` from ``$DOPPELGANGER_DATA_DIR/lfw``: LFW centres its subject, so the
  face counts as found when a detection's box holds the frame's centre (other faces at the edges of LFW frames
  are real but unlabelled: LFW gives recall, not false positives);
- the six group photos of ``bench/photos/groups`` (22 faces) and the one-face photos ``biden.jpg``, ``obama.jpg``
  and ``astronaut.png`` of ``--photos`` (default: ``photos/`` beside the data folder), whose faces are
  labelled in ``bench/photos/groups/labels.json``. A detection finds a labelled face when their boxes overlap
  with IoU >= 0.4, or each box holds the other's centre (detectors frame faces differently: YuNet's boxes
  reach the forehead, the SSD's are squarer); a face is matched once, and every detection left over is a
  false positive. Faces of at least 40 px (the shorter side of the label) are counted apart from smaller ones.

Times are on one thread (each detector's ``threads=1``, PyTorch and OpenCV at one thread too): for each photo
scaled to about 1 megapixel (as ``bench/photos.py`` sends them), the best of ``--repeats`` runs after a warm-up,
then the median over the photos; and the median time per LFW frame (250x250, the first 100 of the sample).
"landmarks vs MTCNN" is the median distance of the five landmarks of LFW's centre face from MTCNN's (the landmarks
the gallery is aligned with), in % of MTCNN's distance between the eyes, in the frames as they are and turned by
±30 degrees.

``--sweep`` also prints recall and false positives for a range of score thresholds and input sizes of each
detector (one detection run at the lowest threshold, filtered afterwards: the same result as running at each
threshold, since every detector applies its threshold before its non-maximum suppression, where a lower-scored box
never removes a higher one, or after its last stage). YuNet with its own landmarks (``VARIANTS``) is timed and
compared with MTCNN's landmarks beside the defaults.
``--propose PHOTO`` runs every detector at low thresholds on one photo and prints the boxes that two detectors
agree on (the median box of each group) with the rest, numbered on a PNG written to ``--draw``: how the labels
were made, before a person kept the true faces by looking at the picture.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import scaled_jpeg  # noqa: E402

from model.data.lfw import image_dir
from model.faces.detectors import DETECTORS, build_detector
from model.faces.detectors.base import Detector, Face
from model.faces.photo_decode import load_image
from model.settings import get_settings

GROUPS = Path(__file__).resolve().parent / "photos" / "groups"
LABELS = GROUPS / "labels.json"
MIN_SIDE = 40
"""Faces at least this large (the shorter side of their labelled box, in pixels) must all be found."""
IOU = 0.4

CHOSEN: dict[str, dict] = {
    "yunet": {},
    "openvino": {},
    "mtcnn": {},
}
"""The settings measured in the main tables: each detector's defaults (``--set`` overrides them)."""
VARIANTS = {"yunet": ("yunet, own landmarks", {"landmarks": "yunet"})}
"""Timed and compared with MTCNN's landmarks beside the detector's defaults (their faces are the same)."""

SWEEP: dict[str, tuple[list[dict], list[float]]] = {
    "yunet": ([{"max_side": s} for s in (320, 400, 480, 640)], [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9]),
    "openvino": ([{}], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
    "mtcnn": ([{}, {"thresholds": (0.6, 0.7, 0.7)}], [0.9, 0.95, 0.99]),
}
"""Per detector: the options tried and the thresholds each is evaluated at (``--sweep``)."""
LOW = {"yunet": 0.3, "openvino": 0.2, "mtcnn": 0.9}
"""The threshold a sweep's detections are made at (MTCNN's last stage already keeps only 0.9 and above)."""


# ------------------------------------------------------------------------------------------------- data


@dataclass
class Photo:
    name: str
    image: Image.Image
    boxes: np.ndarray
    """(n, 4) x0, y0, x1, y1 of the labelled faces; for an LFW frame, empty (its centre is the face)."""
    lfw: bool = False
    path: Path | None = None


def read_labels(photos_dir: Path) -> list[Photo]:
    """The labelled photos: the group photos of ``bench/photos/groups`` and the shared one-face photos (skipped,
    with a note, when ``photos_dir`` lacks them)."""
    labels = json.loads(LABELS.read_text())
    out = []
    for folder, entries in ((GROUPS, labels["photos"]), (photos_dir, labels["shared"])):
        for name, entry in entries.items():
            path = Path(folder) / name
            if not path.exists():
                print(f"note: {path} is missing: left out", file=sys.stderr)
                continue
            image = load_image(path)
            if list(image.size) != entry["size"]:
                raise SystemExit(f"{path} is {image.size}, its labels are for {entry['size']}")
            out.append(Photo(name, image, np.asarray(entry["faces"], dtype=np.float64).reshape(-1, 4), path=path))
    return out


def lfw_sample(count: int, seed: int) -> list[Photo]:
    if count <= 0:
        return []
    root = image_dir(get_settings().lfw_dir)
    paths = sorted(root.glob("*/*.jpg"))
    chosen = np.random.default_rng(seed).choice(len(paths), size=min(count, len(paths)), replace=False)
    return [Photo(paths[i].name, Image.open(paths[i]).convert("RGB"), np.zeros((0, 4)), lfw=True) for i in sorted(chosen)]


# ------------------------------------------------------------------------------------------ conditions


def rotated(photo: Photo, degrees: float) -> Photo:
    """``photo`` turned ``degrees`` counter-clockwise about its centre on an enlarged black canvas; each label
    keeps its size around its turned centre (a face's upright box stays about as large when the face tilts)."""
    image = photo.image.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True)
    theta = np.deg2rad(degrees)
    cx, cy = photo.image.width / 2, photo.image.height / 2
    ncx, ncy = image.width / 2, image.height / 2
    boxes = photo.boxes.copy()
    if len(boxes):
        dx, dy = (boxes[:, 0] + boxes[:, 2]) / 2 - cx, (boxes[:, 1] + boxes[:, 3]) / 2 - cy
        x = ncx + dx * np.cos(theta) + dy * np.sin(theta)
        y = ncy - dx * np.sin(theta) + dy * np.cos(theta)
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=1)
    return Photo(photo.name, image, boxes, photo.lfw)


def scaled(photo: Photo, factor: float) -> Photo:
    size = (max(1, round(photo.image.width * factor)), max(1, round(photo.image.height * factor)))
    image = photo.image.resize(size, Image.Resampling.LANCZOS)
    sx, sy = size[0] / photo.image.width, size[1] / photo.image.height
    return Photo(photo.name, image, photo.boxes * (sx, sy, sx, sy), photo.lfw)


def jpeg(photo: Photo, quality: int) -> Photo:
    buffer = io.BytesIO()
    photo.image.save(buffer, format="JPEG", quality=quality)
    return Photo(photo.name, Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), photo.boxes, photo.lfw)


CONDITIONS: dict[str, Callable[[Photo], Photo]] = {
    "original": lambda p: p,
    "rotated +30°": lambda p: rotated(p, 30),
    "rotated -30°": lambda p: rotated(p, -30),
    "half size": lambda p: scaled(p, 0.5),
    "quarter size": lambda p: scaled(p, 0.25),
    "JPEG q10": lambda p: jpeg(p, 10),
}


# -------------------------------------------------------------------------------------------- scoring


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4): (n, m)."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _holds(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, m): whether box i holds point j."""
    return ((boxes[:, None, 0] <= points[None, :, 0]) & (points[None, :, 0] <= boxes[:, None, 2])
            & (boxes[:, None, 1] <= points[None, :, 1]) & (points[None, :, 1] <= boxes[:, None, 3]))


def centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def match(labels: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, int]:
    """Which labelled faces are found, and how many detections are left over (false positives). A pair matches at
    IoU >= ``IOU`` or when each box holds the other's centre; pairs are taken best IoU first, each box once."""
    if len(labels) == 0 or len(found) == 0:
        return np.zeros(len(labels), dtype=bool), len(found)
    overlap = iou(labels, found)
    ok = (overlap >= IOU) | (_holds(labels, centres(found)) & _holds(found, centres(labels)).T)
    hit = np.zeros(len(labels), dtype=bool)
    used = np.zeros(len(found), dtype=bool)
    for i, j in sorted(zip(*np.nonzero(ok)), key=lambda ij: -overlap[ij]):
        if not hit[i] and not used[j]:
            hit[i] = used[j] = True
    return hit, int((~used).sum())


@dataclass
class Score:
    lfw_found: int = 0
    lfw_total: int = 0
    large_found: int = 0
    large_total: int = 0
    small_found: int = 0
    small_total: int = 0
    false_positives: int = 0
    photos: int = 0
    missed: list[str] = field(default_factory=list)
    condition: str = ""

    def add(self, photo: Photo, faces: list[Face], threshold: float) -> None:
        found = np.asarray([f.box for f in faces if f.probability >= threshold], dtype=np.float64).reshape(-1, 4)
        if photo.lfw:
            centre = np.array([[photo.image.width / 2, photo.image.height / 2]])
            self.lfw_total += 1
            self.lfw_found += bool(len(found)) and bool(_holds(found, centre).any())
            return
        hit, extra = match(photo.boxes, found)
        large = np.minimum(photo.boxes[:, 2] - photo.boxes[:, 0], photo.boxes[:, 3] - photo.boxes[:, 1]) >= MIN_SIDE
        self.large_found += int((hit & large).sum())
        self.large_total += int(large.sum())
        self.small_found += int((hit & ~large).sum())
        self.small_total += int((~large).sum())
        self.false_positives += extra
        self.photos += 1
        if not hit.all():
            self.missed.append(f"{photo.name} {self.condition} ({int((~hit).sum())})")

    def __iadd__(self, other: "Score") -> "Score":
        for key in ("lfw_found", "lfw_total", "large_found", "large_total", "small_found", "small_total",
                    "false_positives", "photos"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.missed += other.missed
        return self

    def cells(self) -> list[str]:
        def ratio(found: int, total: int) -> str:
            return f"{found}/{total}" if total else "-"

        lfw = f"{100 * self.lfw_found / self.lfw_total:.1f}% ({self.lfw_found}/{self.lfw_total})" if self.lfw_total else "-"
        return [lfw, ratio(self.large_found, self.large_total), ratio(self.small_found, self.small_total),
                f"{self.false_positives} in {self.photos}"]


# ----------------------------------------------------------------------------------------------- running


def one_thread() -> None:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


class Detections:
    """Every detector's faces on every photo of every condition, made once per detector and options at the
    detector's lowest threshold (``LOW``), and scored at any higher one."""

    def __init__(self, sets: dict[str, list[Photo]], cache: Path | None = None, tag: str = "") -> None:
        self.sets = sets
        self.cache, self.tag = cache, tag
        self._found: dict[str, dict[str, list[list[Face]]]] = {}

    def of(self, name: str, options: dict) -> dict[str, list[list[Face]]]:
        options = {k: v for k, v in options.items() if k not in ("min_probability", "threads")}
        full = {k: v for k, v in build_detector(name, **options).options().items() if k not in ("min_probability", "threads")}
        key = json.dumps([name, full], sort_keys=True, default=str)
        if key not in self._found:
            file = None
            if self.cache is not None:
                digest = hashlib.sha256((key + self.tag).encode()).hexdigest()[:16]
                file = self.cache / f"{name}-{digest}.pkl"
                if file.exists():
                    self._found[key] = pickle.loads(file.read_bytes())
                    return self._found[key]
            detector = build_detector(name, **options, min_probability=LOW[name], threads=1)
            self._found[key] = {c: [detector.detect(p.image) for p in photos] for c, photos in self.sets.items()}
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(pickle.dumps(self._found[key]))
        return self._found[key]

    def score(self, name: str, options: dict, threshold: float) -> dict[str, Score]:
        found = self.of(name, options)
        out = {}
        for condition, photos in self.sets.items():
            s = Score(condition=condition)
            for photo, faces in zip(photos, found[condition]):
                s.add(photo, faces, threshold)
            out[condition] = s
        return out


def timing(detector: Detector, images: list[Image.Image], repeats: int) -> tuple[float, float]:
    """The median over ``images`` of the best of ``repeats`` detections (after a warm-up each), in ms: wall-clock
    time, and the CPU time of the whole process (what the wall-clock time would be on an idle core, when the
    detector runs on one thread; the better figure on a busy machine)."""
    wall, cpu = [], []
    for image in images:
        detector.detect(image)
        runs, cpus = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            detector.detect(image)
            runs.append(time.perf_counter() - start)
            cpus.append(time.process_time() - start_cpu)
        wall.append(min(runs))
        cpu.append(min(cpus))
    return 1000 * float(np.median(wall)), 1000 * float(np.median(cpu))


def landmark_error(found: list[list[Face]], reference: list[list[Face]], photos: list[Photo], threshold: float) -> float:
    """Median distance of the centre face's landmarks from the reference's, in % of the reference's eye distance."""
    errors = []
    for photo, faces, ref in zip(photos, found, reference):
        centre = np.array([[photo.image.width / 2, photo.image.height / 2]])
        mine = [f for f in faces if f.probability >= threshold and _holds(np.array([f.box]), centre)[0, 0]]
        theirs = [f for f in ref if _holds(np.array([f.box]), centre)[0, 0]]
        if mine and theirs:
            a, b = max(mine, key=lambda f: f.probability), max(theirs, key=lambda f: f.probability)
            eyes = np.linalg.norm(b.landmarks[0] - b.landmarks[1])
            errors.extend(np.linalg.norm(a.landmarks - b.landmarks, axis=1) / eyes)
    return 100 * float(np.median(errors)) if errors else float("nan")


def describe(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"


def draw(path: Path, photo: Photo, faces: list[Face], threshold: float = 0.0) -> None:
    """The photo with its labels (green) and detections (red, numbered, with their score), as a PNG."""
    image = photo.image.copy()
    pen = ImageDraw.Draw(image)
    for box in photo.boxes:
        pen.rectangle(tuple(box), outline=(0, 255, 0), width=3)
    for number, face in enumerate(f for f in faces if f.probability >= threshold):
        pen.rectangle(face.box, outline=(255, 0, 0), width=2)
        pen.text((face.box[0] + 3, face.box[1] + 3), f"{number}: {face.probability:.2f}", fill=(255, 0, 0))
        for x, y in face.landmarks:
            pen.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(255, 255, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


# ------------------------------------------------------------------------------------------------ reports


def print_table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(flush=True)


ROTATED = ("rotated +30°", "rotated -30°")


def sweep(name: str, detections: Detections) -> None:
    """Recall and false positives at each threshold of each option of ``SWEEP[name]``, the labelled faces of upright
    photos (original, half and quarter size, JPEG q10) and of turned ones apart, the small faces (under ``MIN_SIDE``)
    apart too."""
    options_list, thresholds = SWEEP[name]
    rows = []
    for options in options_list:
        for threshold in thresholds:
            upright, turned, lfw = Score(), Score(), Score()
            for condition, s in detections.score(name, options, threshold).items():
                lfw += s
                if condition in ROTATED:
                    turned += s
                else:
                    upright += s
            cells = lfw.cells()
            rows.append([name, describe(options), f"{threshold:g}", cells[0], upright.cells()[1], turned.cells()[1],
                         cells[2], cells[3]])
    print_table(["detector", "settings", "threshold", "LFW centre face", f"faces ≥ {MIN_SIDE} px, upright",
                 f"faces ≥ {MIN_SIDE} px, turned ±30°", f"faces < {MIN_SIDE} px", "false positives"], rows)


def propose(path: Path, out: Path | None) -> None:
    """Every detector's boxes at low thresholds on one photo, grouped across detectors (IoU >= 0.4)."""
    image = load_image(path)
    boxes, votes = [], []
    for name, options in (("yunet", {"min_probability": 0.3, "max_side": 1280}), ("openvino", {"min_probability": 0.2}),
                          ("mtcnn", {"min_probability": 0.5, "thresholds": (0.6, 0.7, 0.7), "max_side": 1280, "min_face_size": 12})):
        for face in build_detector(name, **options).detect(image):
            boxes.append(face.box)
            votes.append((name, round(face.probability, 3)))
    boxes_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    groups: list[list[int]] = []
    for i in range(len(boxes_arr)):
        for group in groups:
            if iou(boxes_arr[[i]], boxes_arr[group]).max() >= IOU and votes[i][0] not in {votes[j][0] for j in group}:
                group.append(i)
                break
        else:
            groups.append([i])
    proposals = []
    for number, group in enumerate(groups):
        box = np.median(boxes_arr[group], axis=0)
        proposals.append({"number": number, "box": [round(float(v), 1) for v in box], "found_by": [votes[i] for i in group]})
    print(json.dumps({"photo": str(path), "size": list(image.size), "proposals": proposals}, indent=1))
    if out is not None:
        pen = ImageDraw.Draw(image)
        for p in proposals:
            colour = (0, 255, 0) if len(p["found_by"]) >= 2 else (255, 0, 0)
            pen.rectangle(tuple(p["box"]), outline=colour, width=3)
            pen.text((p["box"][0] + 3, p["box"][1] + 3), str(p["number"]), fill=colour)
        out.mkdir(parents=True, exist_ok=True)
        image.save(out / f"{path.stem}-proposals.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=int, default=500, help="LFW frames to sample (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photos", default=None, help="folder of biden.jpg, obama.jpg, astronaut.png (default: photos/ beside the data)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per photo (the best counts)")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--set", action="append", default=[], metavar="DETECTOR.OPTION=VALUE",
                        help="override an option of a detector in the main tables, e.g. yunet.min_probability=0.8")
    parser.add_argument("--sweep", action="store_true", help="also try thresholds and input sizes")
    parser.add_argument("--draw", default=None, help="write PNGs of the misses and false positives (or --propose's) here")
    parser.add_argument("--json", default=None, help="write the main tables' numbers here")
    parser.add_argument("--propose", default=None, metavar="PHOTO", help="propose labels for one photo and stop")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="keep each detector's detections here and reuse them (delete it after changing a detector)")
    args = parser.parse_args()
    one_thread()
    if args.propose:
        propose(Path(args.propose), Path(args.draw) if args.draw else None)
        return
    names = [n for n in args.detectors.split(",") if n]
    chosen = {name: dict(CHOSEN[name]) for name in names}
    for item in args.set:
        key, value = item.split("=", 1)
        name, option = key.split(".", 1)
        chosen[name][option] = json.loads(value)

    photos_dir = Path(args.photos) if args.photos else get_settings().data_dir.parent / "photos"
    labelled = read_labels(photos_dir)
    lfw = lfw_sample(args.lfw, args.seed)
    sets = {condition: [change(p) for p in labelled + lfw] for condition, change in CONDITIONS.items()}
    faces = sum(len(p.boxes) for p in labelled)
    print(f"{len(labelled)} labelled photos ({faces} faces) and {len(lfw)} LFW frames (seed {args.seed}), each in "
          f"{len(CONDITIONS)} conditions ({', '.join(CONDITIONS)}); one thread\n", flush=True)
    tag = f"{args.lfw}-{args.seed}-{hashlib.sha256(LABELS.read_bytes()).hexdigest()}"
    detections = Detections(sets, Path(args.cache) if args.cache else None, tag)
    if args.sweep:
        for name in names:
            sweep(name, detections)

    results: dict[str, dict] = {}
    rows, speed_rows, goal_rows = [], [], []
    one_mp = [Image.open(io.BytesIO(scaled_jpeg(p.path, 1.0))).convert("RGB") for p in labelled]
    frames = [p for p in sets["original"] if p.lfw]
    first_frame = len(sets["original"]) - len(frames)
    reference = None
    if "mtcnn" in chosen and frames:
        reference = {c: found[first_frame:] for c, found in detections.of("mtcnn", chosen["mtcnn"]).items()}
    for name in names:
        detector = build_detector(name, **chosen[name], threads=1)
        options = detector.options()
        scores = detections.score(name, options, detector.min_probability)
        total = Score()
        for condition, s in scores.items():
            total += s
            rows.append([name, condition, *s.cells()])
        rows.append([f"**{name}**", "**all**", *[f"**{c}**" for c in total.cells()]])
        variants = [(name, detector)]
        if name in VARIANTS:
            label, extra = VARIANTS[name]
            variants.append((label, build_detector(name, **(chosen[name] | extra), threads=1)))
        for label, timed in variants:
            ms_photo, cpu_photo = timing(timed, one_mp, args.repeats)
            ms_frame, cpu_frame = timing(timed, [p.image for p in frames[:100]], 1) if frames else (float("nan"),) * 2
            error = turned_error = float("nan")
            if reference is not None:
                found = detections.of(name, timed.options())
                error = landmark_error(found["original"][first_frame:], reference["original"], frames, timed.min_probability)
                turned_error = landmark_error(
                    [f for c in ROTATED for f in found[c][first_frame:]], [f for c in ROTATED for f in reference[c]],
                    [p for c in ROTATED for p in sets[c][first_frame:]], timed.min_probability,
                )
            shown = {k: v for k, v in timed.options().items() if k not in ("threads", "weights_dir")}
            speed_rows.append([label, describe(shown), f"{ms_photo:.1f}", f"{cpu_photo:.1f}", f"{ms_frame:.1f}",
                               f"{cpu_frame:.1f}", f"{error:.1f}", f"{turned_error:.1f}"])
            results[label] = {
                "options": timed.options(), "ms_per_1mp_photo": ms_photo, "cpu_ms_per_1mp_photo": cpu_photo,
                "ms_per_lfw_frame": ms_frame, "cpu_ms_per_lfw_frame": cpu_frame, "landmarks_vs_mtcnn_pct": error,
                "turned_landmarks_vs_mtcnn_pct": turned_error,
            }
        results[name]["conditions"] = {c: vars(s) for c, s in scores.items()}
        cpu_photo = results[name]["cpu_ms_per_1mp_photo"]
        per_20 = 20 * total.false_positives / max(1, total.photos)
        goal_rows.append([name, f"{total.large_found}/{total.large_total}", f"{per_20:.2f}", f"{cpu_photo:.1f}",
                          ", ".join(total.missed) or "none"])
        if args.draw:
            found = detections.of(name, options)
            for condition, photos in sets.items():
                for photo, faces in zip(photos, found[condition]):
                    kept = [f for f in faces if f.probability >= detector.min_probability]
                    hit, extra = match(photo.boxes, np.asarray([f.box for f in kept]).reshape(-1, 4))
                    if not photo.lfw and (extra or not hit.all()):
                        slug = condition.replace(" ", "-").replace("°", "")
                        draw(Path(args.draw) / name / f"{slug}-{Path(photo.name).stem}.png", photo, kept)

    print_table(["detector", "condition", "LFW centre face", f"faces ≥ {MIN_SIDE} px", f"faces < {MIN_SIDE} px",
                 "false positives"], rows)
    print_table(["detector", "settings", "ms / ~1 MP photo", "CPU ms / ~1 MP photo", "ms / LFW frame", "CPU ms / LFW frame",
                 "landmarks vs MTCNN, LFW (% eye distance)", "same, LFW turned ±30°"], speed_rows)
    print_table(["detector", f"labelled faces ≥ {MIN_SIDE} px found", "false positives per 20 photos",
                 "CPU ms / ~1 MP photo", "photos with a missed face (condition by condition)"], goal_rows)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
