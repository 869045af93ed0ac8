"""Ours against the peer (dlib's face pipeline, bench/dlib_peer.py) in one run, on the same pairs and photos.

    python bench/peer_compare.py [--run runs/default] [--closed-run runs/compare/lfw20-cosface-mobilenet_v2-d64-s0]
                                 [--index indexes/lfw] [--part all|accuracy|latency|rank] [--repeats 15]

Accuracy:
- LFW View 2 verification (10 folds, the official protocol), on all 6,000 pairs and on the pairs of people our
  ``--run`` never trained on (the fair figure for a model trained on LFW people; dlib's model, by its author, was
  trained without LFW's people).
- 1-NN accuracy on LFW-62 (people with 20+ images), on the saved split of ``--closed-run``: its test images
  against its training images. The peer embeds the same images.
Each LFW frame goes through each pipeline's own face crop: ours the run's crop (``model.faces.crop``), the peer HOG detection
(the frame's central box when HOG finds nothing), 5 landmarks and its 150 x 150 chip. The peer's embeddings are
cached in $DOPPELGANGER_CACHE_DIR/peer-dlib-lfw.npz (embedding LFW with dlib takes minutes).

Latency: real photos (../shared/photos, or --photos) scaled to about 1 and 3 megapixels and encoded as JPEG, each
matched ``--repeats`` times by ``Matcher.match`` (decode, detect, crop, embed, search over the LFW index) and by the
peer (decode, HOG detect, landmarks and embed, exact search over its LFW embeddings); per-stage median and p95 in
ms, and the ratio of the totals.

Rank: where a known person's LFW images rank, among all 13,233, for a later photo of them (``--rank-photo``,
default ``biden.jpg``, of ``--rank-person``, default Joseph_Biden): ours through ``Matcher.rank_of`` on
``--index``, the peer by exact search over its embeddings of every LFW image (cached as above). 1 means the
person is named first.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dlib_peer import DlibPipeline  # noqa: E402
from photos import PHOTOS_DIR, scaled_jpeg  # noqa: E402

from index.build import aligned_batches, trained_people  # noqa: E402
from model.data.lfw import image_dir, read_pairs, unseen_pairs  # noqa: E402
from model.evaluation import knn_predict  # noqa: E402
from model.evaluation.verification import kfold_verification  # noqa: E402
from model.inference import Embedder  # noqa: E402
from model.run import RunDir  # noqa: E402
from model.settings import get_settings  # noqa: E402
from model.data.tasks import run_crop  # noqa: E402

PHOTOS = ("biden.jpg", "obama.jpg", "sample1.jpg", "obama_partial_face.jpg")
STAGES_OURS = ("decode", "detect", "crop", "embed", "search", "total")
STAGES_PEER = ("decode", "detect", "embed", "search", "total")


# --- embeddings ---------------------------------------------------------------------------------------------------

def ours(run: Path, root: Path, paths: list[str]) -> np.ndarray:
    """Our embeddings of LFW frames, through the run's own crop (``model.faces.crop``; from the decoded-image cache
    when it holds them)."""
    embedder = Embedder.from_run(run)
    crop = run_crop(RunDir(run).config())
    return np.concatenate([embedder.embed(images) for _, images, _ in aligned_batches(root, paths, crop, os.cpu_count() or 1)])


def peer_embeddings(peer: DlibPipeline, root: Path, paths: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """dlib embeddings of ``paths`` and whether HOG found each face, computed once and cached."""
    known: dict[str, tuple[np.ndarray, bool]] = {}
    if cache.exists():
        saved = np.load(cache, allow_pickle=False)
        known = {p: (e, bool(f)) for p, e, f in zip(saved["paths"], saved["embeddings"], saved["found"])}
    todo = [p for p in dict.fromkeys(paths) if p not in known]
    for i, path in enumerate(tqdm(todo, desc="dlib embeds LFW", unit="img", disable=not todo)):
        rgb = np.asarray(Image.open(root / path).convert("RGB"))
        known[path] = peer.embed_lfw_frame(rgb)
        if (i + 1) % 500 == 0 or i + 1 == len(todo):
            cache.parent.mkdir(parents=True, exist_ok=True)
            names = list(known)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, paths=np.array(names), embeddings=np.stack([known[p][0] for p in names]),
                     found=np.array([known[p][1] for p in names]))
            os.replace(tmp, cache)
    return np.stack([known[p][0] for p in paths]), np.array([known[p][1] for p in paths])


# --- accuracy -----------------------------------------------------------------------------------------------------

def accuracy(args: argparse.Namespace, peer: DlibPipeline, cache: Path) -> None:
    settings = get_settings()
    root = image_dir(settings.lfw_dir)
    view2 = read_pairs(settings.lfw_dir / "pairs.txt")
    paths = sorted(set(view2.left) | set(view2.right))
    row = {p: i for i, p in enumerate(paths)}
    left, right = [row[p] for p in view2.left], [row[p] for p in view2.right]
    unseen = unseen_pairs(view2, trained_people(RunDir(args.run)))

    closed_run = RunDir(args.closed_run)
    if not closed_run.exists():
        raise SystemExit(
            f"{args.closed_run} is missing: train an LFW-62 model first, e.g. `doppelganger compare --grid "
            f"grids/comparison.toml --only 'lfw20-cosface-*-d64-*'`, or pass --closed-run RUN_DIR"
        )
    split = closed_run.split(root=None)
    train, test = split["train"], split["test"]
    closed_paths = [*train.paths, *test.paths]

    peer_view2, found = peer_embeddings(peer, root, paths, cache)
    peer_closed, _ = peer_embeddings(peer, root, closed_paths, cache)
    ours_view2 = ours(args.run, root, paths)
    ours_closed = ours(args.closed_run, root, closed_paths)

    print(f"\nAccuracy ({len(view2)} View 2 pairs, {len(unseen)} of people {Path(args.run).name} never trained on; "
          f"LFW-62 split of {Path(args.closed_run).name}: {len(test)} test vs {len(train)} train images)")
    print(f"dlib's HOG found the face in {found.mean():.1%} of the {len(paths)} View 2 frames (the central box otherwise)")
    print("| pipeline | View 2 acc (all pairs) | View 2 acc (unseen people) | View 2 AUC | LFW-62 1-NN |")
    print("|---|---:|---:|---:|---:|")
    results = {}
    for name, v2, closed in (("ours", ours_view2, ours_closed), ("dlib (peer)", peer_view2, peer_closed)):
        d = np.linalg.norm(v2[left] - v2[right], axis=1)
        everything = kfold_verification(d, view2.same, view2.fold)
        fresh = kfold_verification(d[unseen], view2.same[unseen], view2.fold[unseen])
        n = len(train)
        predicted = knn_predict(closed[:n], train.labels, closed[n:], k=1)
        knn = float(np.mean(predicted == test.labels))
        results[name] = (everything["acc"], fresh["acc"], knn)
        print(f"| {name} | {100 * everything['acc']:.2f} ± {100 * everything['std']:.2f} | "
              f"{100 * fresh['acc']:.2f} ± {100 * fresh['std']:.2f} | {everything['auc']:.4f} | {100 * knn:.2f} |")
    o, p = results["ours"], results["dlib (peer)"]
    print(f"ratios ours/peer: View 2 {o[0] / p[0]:.3f}, View 2 unseen {o[1] / p[1]:.3f}, LFW-62 1-NN {o[2] / p[2]:.3f}")


# --- rank of a known person -------------------------------------------------------------------------------------

def known_person_rank(args: argparse.Namespace, cache: Path) -> None:
    from index.matcher import Matcher

    root = image_dir(get_settings().lfw_dir)
    photo = Path(args.photos) / args.rank_photo
    matcher = Matcher.load(Path(args.index))
    try:
        ranks_ours = matcher.rank_of(photo, args.rank_person)
        first_ours = matcher.match(photo, k=1)["faces"][0]["matches"][0]["person"]
    finally:
        matcher.index.close()
    paths = sorted(str(p.relative_to(root)) for p in root.glob("*/*.jpg"))
    peer = DlibPipeline(upsample=1)
    gallery, _ = peer_embeddings(peer, root, paths, cache)  # LFW frames: upsampling only where HOG needs it
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    faces = peer.detect(rgb)
    if not faces:
        raise SystemExit(f"dlib found no face in {photo}")
    distances = np.linalg.norm(gallery - peer.embed(rgb, faces[0]), axis=1)
    order = np.argsort(distances, kind="stable")
    people = [p.split("/")[0] for p in paths]
    ranks_peer = [rank for rank, i in enumerate(order, 1) if people[i] == args.rank_person]
    print(f"\nRank of {args.rank_person}'s LFW images for {photo.name} among all {len(paths)} LFW images (1 = first)")
    print("| pipeline | first match | ranks |")
    print("|---|---|---|")
    print(f"| ours ({Path(args.index).name}) | {first_ours} | {', '.join(map(str, ranks_ours))} |")
    print(f"| dlib (peer) | {people[order[0]]} | {', '.join(map(str, ranks_peer))} |")


# --- latency ------------------------------------------------------------------------------------------------------

def summarize(timings: list[dict[str, float]], stages: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    return {s: (float(np.median([t[s] for t in timings])), float(np.percentile([t[s] for t in timings], 95))) for s in stages}


def latency(args: argparse.Namespace, peers: list[DlibPipeline], cache: Path) -> None:
    from index.matcher import Matcher

    photos = [Path(args.photos) / name for name in PHOTOS if (Path(args.photos) / name).exists()]
    if not photos:
        raise SystemExit(f"no photos in {args.photos}")
    if cache.exists():
        gallery = np.load(cache)["embeddings"]
        source = f"its {len(gallery)} cached LFW embeddings"
    else:
        gallery = np.random.default_rng(0).normal(size=(13233, 128)).astype(np.float32)
        source = "13,233 random vectors (run --part accuracy first for the real ones)"
    matcher = Matcher.load(Path(args.index))
    names = [f"dlib, HOG upsample {p.upsample}" for p in peers]
    print(f"\nLatency per photo ({args.repeats} repeats x {len(photos)} photos per size; ours on {args.index} "
          f"({len(matcher.index)} images, embedding backend {matcher.embedder.backend}); the peer searches {source}; "
          f"{os.cpu_count()} CPU cores). HOG upsample 1 is face_recognition's default; 0 is faster and misses "
          f"faces under about 80 pixels.")
    for megapixels in (1.0, 3.0):
        data = [scaled_jpeg(p, megapixels) for p in photos]
        for photo in data:  # warm-up: MTCNN, ONNX Runtime and dlib build their state on the first call
            matcher.match(photo, k=5)
            for peer in peers:
                peer.match(photo, gallery)
        mine, theirs = [], [[] for _ in peers]
        for _ in range(args.repeats):
            for photo in data:
                mine.append(matcher.match(photo, k=5)["timings_ms"])
                for peer, times in zip(peers, theirs):
                    times.append(peer.match(photo, gallery)[1])
        m = summarize(mine, STAGES_OURS)
        t = [summarize(times, STAGES_PEER) for times in theirs]
        print(f"\n~{megapixels:g} MP photos: median / p95 ms per stage")
        print("| stage | ours | " + " | ".join(names) + " |")
        print("|---|---:|" + "---:|" * len(names))
        for stage in STAGES_OURS:
            cells = ["(in embed)" if stage == "crop" else f"{x[stage][0]:.1f} / {x[stage][1]:.1f}" for x in t]
            print(f"| {stage} | {m[stage][0]:.1f} / {m[stage][1]:.1f} | " + " | ".join(cells) + " |")
        for name, x in zip(names, t):
            print(f"{name} / ours, total: median {x['total'][0] / m['total'][0]:.1f}x, p95 {x['total'][1] / m['total'][1]:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/default", help="our served model (View 2)")
    parser.add_argument("--closed-run", default="runs/compare/lfw20-cosface-mobilenet_v2-d64-s0", help="our LFW-62 model")
    parser.add_argument("--index", default="indexes/lfw", help="our LFW index (latency)")
    parser.add_argument("--photos", default=str(PHOTOS_DIR))
    parser.add_argument("--part", default="all", choices=("all", "accuracy", "latency", "rank"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--upsample", type=int, nargs="+", default=[1, 0],
                        help="HOG upsampling for the photos (latency part), one peer column each")
    parser.add_argument("--rank-photo", default="biden.jpg", help="photo in --photos for the rank part")
    parser.add_argument("--rank-person", default="Joseph_Biden", help="the LFW person it shows")
    args = parser.parse_args()
    cache = get_settings().cache_dir / "peer-dlib-lfw.npz"
    if args.part in ("all", "accuracy"):
        accuracy(args, DlibPipeline(upsample=0), cache)
    if args.part in ("all", "latency"):
        latency(args, [DlibPipeline(upsample=u) for u in args.upsample], cache)
    if args.part in ("all", "rank"):
        known_person_rank(args, cache)


if __name__ == "__main__":
    main()
