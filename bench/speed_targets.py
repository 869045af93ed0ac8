"""The speed targets of docs/performance.md ("Speed targets"), measured in one run, each beside the dlib peer.

    python bench/speed_targets.py [--index indexes/lfw] [--run runs/default] [--duration 20] [--photos 400] [--frames 2000]

Run it on an idle machine: a training job or a test run on the same cores inflates every figure several times.
The detector is the one the settings name (``DOPPELGANGER_DETECTOR``), for the server and for the builds alike.

1. ``/match`` p50 over loopback HTTP, one client, real photos (../shared/photos) scaled to about 1 MP and sent as
   JPEG (``bench/load_test.py``'s server and clients). Peer: dlib's whole pipeline in this process on the same
   photos (decode, HOG detection, landmarks, embedding, exact search over 13,233 vectors), with no HTTP: its
   figure is what dlib would cost behind a server at best.
2. Matches per second with 4 concurrent clients. Peer: 4 processes running its pipeline one photo after the other
   for the same time.
3. A whole-photo gallery build, photos per second: ``--photos`` LFW images taken as whole photos (each decoded,
   its face detected and aligned, then embedded in batches), through ``index.build.photo_batches`` with a process
   per core, as ``doppelganger index build --kind photos`` does. Peer: a process per core detecting and embedding
   the same files.
4. An aligned LFW index build, images per second: ``--frames`` LFW frames through ``index.build.aligned_batches``
   (from the crop cache when it is there, as the LFW index build reads them) and the embedder. Peer: a process per
   core embedding the same frames (``embed_lfw_frame``).

Prints a Markdown table with the ratio of ours to the peer (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dlib_peer import DlibPipeline  # noqa: E402
from load_test import PHOTOS, run_clients, start_server, stop_server  # noqa: E402
from photos import PHOTOS_DIR, scaled_jpeg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_peer: list[DlibPipeline] = []


def _pipeline() -> DlibPipeline:
    if not _peer:
        _peer.append(DlibPipeline())
    return _peer[0]


def _peer_loop(photos: list[bytes], gallery: np.ndarray, seconds: float, offset: int) -> int:
    """Matches the peer completes in ``seconds``, one photo after the other (in a worker process)."""
    peer, done, stop = _pipeline(), 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        peer.match(photos[(offset + done) % len(photos)], gallery)
        done += 1
    return done


def _peer_photo(path: str) -> bool:
    """Detect and embed the largest face of one photo (False when dlib finds none)."""
    from PIL import Image

    peer = _pipeline()
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    faces = peer.detect(rgb)
    if faces:
        peer.embed(rgb, faces[0])
    return bool(faces)


def _peer_frame(path: str) -> bool:
    from PIL import Image

    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    return _pipeline().embed_lfw_frame(rgb)[1]


def peer_gallery(size: int = 13233, dim: int = 128) -> np.ndarray:
    """Stand-in vectors for the peer's LFW gallery: exact search costs the same whatever the vectors hold."""
    vectors = np.random.default_rng(0).normal(size=(size, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def measure_match(args: argparse.Namespace, photos: list[bytes]) -> dict[str, tuple[float, float]]:
    server, url = start_server(args.index, 1)
    try:
        warm = run_clients(url, photos, 1, 5.0)
        if warm[1]:
            sys.exit(f"the warm-up failed: {warm[1][:3]}")
        one, errors, _ = run_clients(url, photos, 1, args.duration)
        four, errors4, seconds4 = run_clients(url, photos, 4, args.duration)
        if errors or errors4:
            print(f"errors: {sorted(set(errors + errors4))[:3]}")
    finally:
        stop_server(server)
    gallery = peer_gallery()
    peer = _pipeline()
    for photo in photos:  # warm-up
        peer.match(photo, gallery)
    peer_ms = []
    stop = time.monotonic() + args.duration
    while time.monotonic() < stop:
        start = time.perf_counter()
        peer.match(photos[len(peer_ms) % len(photos)], gallery)
        peer_ms.append(1000 * (time.perf_counter() - start))
    with ProcessPoolExecutor(4) as pool:
        counts = list(pool.map(_peer_loop, [photos] * 4, [gallery] * 4, [args.duration] * 4, range(4)))
    return {
        "match_p50_ms": (float(np.median(one)), float(np.median(peer_ms))),
        "matches_per_s_4": (len(four) / seconds4, sum(counts) / args.duration),
    }


def measure_builds(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    from index.build import aligned_batches, photo_batches
    from model.data.lfw import image_dir, list_people
    from model.faces.crop import crop_for
    from model.inference import Embedder
    from model.run import RunDir
    from model.settings import get_settings

    settings = get_settings()
    root = image_dir(settings.lfw_dir)
    paths = [path for files in list_people(settings.lfw_dir).values() for path in files]
    rng = np.random.default_rng(0)
    photo_paths = sorted(rng.choice(paths, size=min(args.photos, len(paths)), replace=False).tolist())
    frame_paths = sorted(rng.choice(paths, size=min(args.frames, len(paths)), replace=False).tolist())
    run = RunDir(args.run)
    embedder = Embedder.from_run(run.path, threads=0)
    crop = crop_for("lfw", embedder.image_size, run.config().backbone)
    workers = os.cpu_count() or 1
    embedder.embed(np.zeros((8, crop.size, crop.size, 3), np.uint8))  # warm-up

    start, found = time.perf_counter(), 0
    for chunk, inputs, failed, _ in photo_batches(root, photo_paths, crop, None, workers=workers):
        embedder.embed(inputs)
        found += len(chunk) - len(failed)
    ours_photos = len(photo_paths) / (time.perf_counter() - start)
    start = time.perf_counter()
    for _, inputs, _ in aligned_batches(root, frame_paths, crop, workers):
        embedder.embed(inputs)
    ours_frames = len(frame_paths) / (time.perf_counter() - start)

    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_peer_photo, [str(root / p) for p in photo_paths[:workers]]))  # load the models
        start = time.perf_counter()
        peer_found = sum(pool.map(_peer_photo, [str(root / p) for p in photo_paths], chunksize=8))
        peer_photos = len(photo_paths) / (time.perf_counter() - start)
        start = time.perf_counter()
        list(pool.map(_peer_frame, [str(root / p) for p in frame_paths], chunksize=16))
        peer_frames = len(frame_paths) / (time.perf_counter() - start)
    print(f"whole photos: ours found a face in {found} of {len(photo_paths)}, the peer in {peer_found}")
    return {"photo_build_per_s": (ours_photos, peer_photos), "aligned_build_per_s": (ours_frames, peer_frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="indexes/lfw")
    parser.add_argument("--run", default="runs/default")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each /match measurement")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--photos", type=int, default=400, help="LFW images taken as whole photos")
    parser.add_argument("--frames", type=int, default=2000, help="LFW frames for the aligned build")
    parser.add_argument("--photos-dir", default=str(PHOTOS_DIR))
    parser.add_argument("--part", choices=("all", "match", "build"), default="all")
    args = parser.parse_args()

    photos = [scaled_jpeg(Path(args.photos_dir) / n, args.megapixels) for n in PHOTOS if (Path(args.photos_dir) / n).exists()]
    detector = os.environ.get("DOPPELGANGER_DETECTOR", "the default")
    print(f"{os.cpu_count()} CPU cores, detector {detector}, {len(photos)} photos of ~{args.megapixels:g} MP, "
          f"{args.duration:g} s per /match measurement")
    results: dict[str, tuple[float, float]] = {}
    if args.part in ("all", "match"):
        results.update(measure_match(args, photos))
    if args.part in ("all", "build"):
        results.update(measure_builds(args))
    rows = {
        "match_p50_ms": ("/match p50, one client, ~1 MP photo (ms)", "30 or less", False),
        "matches_per_s_4": ("matches per second, 4 concurrent clients", "60 or more", True),
        "photo_build_per_s": (f"whole-photo gallery build, photos/s ({args.photos} LFW images as photos)", "50 or more", True),
        "aligned_build_per_s": (f"aligned LFW index build, images/s ({args.frames} frames)", "1,000 or more", True),
    }
    print("\n| measure | target | ours | dlib | ours vs dlib |")
    print("|---|---:|---:|---:|---:|")
    for key, (label, target, higher_is_better) in rows.items():
        if key in results:
            ours, peer = results[key]
            ratio = ours / peer if higher_is_better else peer / ours
            print(f"| {label} | {target} | {ours:.1f} | {peer:.1f} | {ratio:.1f}x {'faster' if ratio >= 1 else 'slower'} |")


if __name__ == "__main__":
    main()
