"""``doppelganger index build``: embed a gallery and publish it as a new index version.

A rebuild is incremental. An image keeps its embedding (and its id) when the previous version holds the same
path with the same content hash, embedded by the same model and in the same gallery kind; new and changed images
are embedded, removed ones dropped. A new model (another checkpoint hash) embeds everything again. The new
version is published atomically (``index.storage``): a build that fails, at any point, leaves the previous
version serving.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import faiss
import numpy as np
from PIL import Image
from tqdm import tqdm

from index.calibration import MIN_PAIRS, Calibration, calibrate_on_lfw, fit_search_threshold
from index.gallery import GALLERY_KINDS, GalleryImage, detect_kind, scan_gallery
from index.manifest import Manifest
from index.metadata import ImageRecord, MetadataStore
from index.storage import METADATA, IndexCorruptError, IndexDir, verify_version
from index.vector_index import DEFAULT_FACTORY
from model.data.lfw import image_dir, read_pairs
from model.hashing import file_sha256
from model.inference import Embedder
from model.run import RunDir
from model.data.batch_decode import decode_chunks
from model.data.cache import ImageCache
from model.faces.crop import AlignedCrop, FrameCrop, crop_for
from model.faces.detector import Face
from model.transforms import Preprocess

log = logging.getLogger("doppelganger")

BATCH = 256
Crop = Preprocess | FrameCrop | AlignedCrop
"""What turns a face frame into the model's input (``model.faces.crop``)."""
Locate = Callable[[bytes], tuple[Image.Image, Face]]
"""Decodes a photo and finds the face to index in it."""


@dataclass
class BuildReport:
    """What a build did."""

    version: str
    count: int
    embedded: int
    kept: int
    removed: int
    skipped: dict[str, str] = field(default_factory=dict)
    """Gallery images left out, with the reason (a photo with no face, a file that does not decode)."""
    seconds: float = 0.0
    embed_seconds: float = 0.0
    up_to_date: bool = False
    """Nothing changed since the live version, which stays live (no new version is published)."""

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0


def aligned_batches(root: Path, paths: list[str], crop: Crop, workers: int) -> Iterator[tuple[list[str], np.ndarray, dict[str, str]]]:
    """Model inputs of LFW-style face frames, ``BATCH`` at a time, cropped by ``workers`` processes ahead of use
    (``model.data.batch_decode``); files that do not decode are reported ("cannot decode: ..."), not raised.

    When ``root`` is LFW's own image folder and the decoded-image cache (``model.data.cache``) already holds these
    images with this crop (``doppelganger evaluate`` and training build it), they come from there."""
    cached = _cached_lfw(root, paths, crop)
    if cached is not None:
        for start in range(0, len(paths), BATCH):
            chunk = paths[start : start + BATCH]
            yield chunk, cached.take(chunk), {}
        return
    yield from decode_chunks(root, paths, crop, max(1, workers), chunk=BATCH, skip_failures=True)


def _cached_lfw(root: Path, paths: list[str], crop: Crop) -> ImageCache | None:
    from model.settings import get_settings

    settings = get_settings()
    try:
        if Path(root).resolve() != image_dir(settings.lfw_dir).resolve():
            return None
    except FileNotFoundError:
        return None
    return ImageCache.load_if_complete(settings.cache_dir, "lfw", paths, crop)


def photo_batches(root: Path, paths: list[str], crop: Crop, locate: Locate) -> Iterator[tuple[list[str], np.ndarray, dict[str, str]]]:
    """Model inputs of whole photos: ``locate`` decodes each and finds its largest face, ``crop`` aligns it."""
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        out = np.empty((len(chunk), crop.size, crop.size, 3), dtype=np.uint8)
        failed: dict[str, str] = {}
        for i, path in enumerate(chunk):
            try:
                out[i] = crop.from_face(*locate((root / path).read_bytes()))
            except (OSError, ValueError) as error:
                failed[path] = str(error)
        yield chunk, out, failed


def photo_locator() -> Locate:
    """Decode a photo and find its largest face (``NoFaceError`` when there is none)."""
    from model.faces.photo_decode import load_image
    from model.faces.detector import FaceDetector, select_face

    detector = FaceDetector()

    def locate(data: bytes) -> tuple[Image.Image, Face]:
        image = load_image(data)
        return image, select_face(detector.detect(image))

    return locate


def trained_people(run: RunDir) -> set[str]:
    """Names of the people the run trained on (its train and validation parts)."""
    people: set[str] = set()
    for name, part in run.split().items():
        if name in ("train", "val"):
            people.update(part.classes[label] for label in np.unique(part.labels))
    return people


def gallery_calibration(calibration: Calibration, records: list[ImageRecord], vectors: np.ndarray, trained: set[str]) -> dict:
    """``calibration`` with the same-person threshold of a search of this gallery (``fit_search_threshold``):
    every image of a person the model never trained on is searched against the rest of the gallery. Galleries
    too small for it keep the pair threshold."""
    people = np.array([r.person for r in records])
    queries = np.flatnonzero(~np.isin(people, list(trained)))
    if len(queries) < MIN_PAIRS or len(records) < 3:
        return calibration.to_dict()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    cosines, found = index.search(vectors[queries], 2)
    # The best match other than the query itself (a duplicate image may come first).
    other = np.where(found[:, 0] == queries, 1, 0)
    top = found[np.arange(len(queries)), other]
    top_cosines = cosines[np.arange(len(queries)), other]
    correct = people[top] == people[queries]
    folds = np.array([zlib.crc32(p.encode()) % 10 for p in people[queries]])
    try:
        search = fit_search_threshold(top_cosines, correct, folds)
    except ValueError:
        return calibration.to_dict()
    return calibration.with_search_threshold(search).to_dict()


def lfw_calibration(run: RunDir, embedder: Embedder, lfw_dir: Path, workers: int) -> Calibration:
    """The similarity calibration of a model, on the LFW View 2 pairs of people it never trained on."""
    pairs_file = Path(lfw_dir) / "pairs.txt"
    if not pairs_file.exists():
        raise FileNotFoundError(
            f"{pairs_file} is missing: the similarity calibration needs LFW's pairs; get LFW with "
            f"`doppelganger data download lfw`"
        )
    crop = crop_for("lfw", embedder.image_size, run.config().backbone)
    root = image_dir(lfw_dir)

    def embed_paths(paths: list[str]) -> np.ndarray:
        parts = []
        for _, images, failed in aligned_batches(root, paths, crop, workers):
            if failed:
                raise ValueError(f"cannot read LFW images for the calibration: {failed}")
            parts.append(embedder.embed(images))
        return np.concatenate(parts)

    return calibrate_on_lfw(embed_paths, read_pairs(pairs_file), trained_people(run))


def _previous_version(store: IndexDir):
    """The live version to build on: its folder, manifest, ids, embeddings and records; all ``None`` when there is
    none, or when it is damaged (then the build embeds everything again, and says so)."""
    folder = store.current()
    if folder is None:
        return None, None, None, None, None
    try:
        manifest = verify_version(folder)
        old = MetadataStore(folder / METADATA)
        try:
            ids, vectors = old.embeddings()
            records = old.records()
        finally:
            old.close()
    except (IndexCorruptError, sqlite3.DatabaseError) as error:
        log.warning("the live index version is damaged, so every image is embedded again: %s", error)
        return None, None, None, None, None
    return folder, manifest, ids, vectors, records


@dataclass(frozen=True)
class GallerySource:
    """One folder of the gallery: ``ROOT/<Person>/<image>``, of a ``kind`` (``index.gallery``). Its images are
    recorded as ``prefix + "<Person>/<image>"``: the first source of an index has no prefix, later ones
    (people added by the admin, say) their own."""

    root: Path
    kind: str = "auto"
    prefix: str = ""

    def to_dict(self, kind: str) -> dict[str, str]:
        return {"root": str(self.root), "kind": kind, "prefix": self.prefix}


def source_prefix(path: str, prefixes: Iterable[str]) -> str | None:
    """The prefix of the gallery source that ``path`` belongs to: the longest one it starts with."""
    return max((p for p in prefixes if path.startswith(p)), key=len, default=None)


Source = tuple[GallerySource, str, list[GalleryImage]]
"""One gallery source as a build sees it: the source, its kind (``aligned`` or ``photos``) and its images."""


def build_index(
    run_dir: Path,
    galleries: Sequence[GallerySource] | Path,
    index_dir: Path,
    lfw_dir: Path,
    factory: str = DEFAULT_FACTORY,
    exclude_people: Iterable[str] = (),
    full: bool = False,
    workers: int = 0,
    embedder: Embedder | None = None,
    locate: Locate | None = None,
    progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Build (or rebuild) the index of ``galleries`` in ``index_dir`` with the run's best model.

    Incremental unless ``full``; ``exclude_people`` are left out (people removed from a read-only gallery).
    ``on_progress(done, total)`` is called as images are embedded. ``locate`` finds the face of a whole photo
    (default: the largest face MTCNN finds).
    """
    started = time.perf_counter()
    galleries = checked_galleries(galleries)
    run, checkpoint = lfw_trained_run(run_dir)
    model_hash = file_sha256(checkpoint)
    excluded = set(exclude_people)
    sources = scan_sources(galleries, excluded)
    workers = workers or (os.cpu_count() or 1)
    embedder = embedder or Embedder.from_run(run.path)

    store = IndexDir(index_dir)
    _, previous, old_ids, old_vectors, old_records = _previous_version(store)
    reusable = reusable_embeddings(previous, old_records, old_vectors, sources, model_hash, embedder.dim, full)
    next_id = int(old_ids.max()) + 1 if previous is not None and len(old_ids) else 0
    previous_paths = {record.path for record in old_records} if previous is not None else set()
    records, vectors, pending = keep_unchanged_images(sources, reusable, model_hash)
    kept_count = len(records)

    crop = crop_for("lfw", embedder.image_size, run.config().backbone)
    embed_started = time.perf_counter()
    skipped = embed_pending(pending, crop, embedder, workers, locate, model_hash, next_id, records, vectors, progress, on_progress)
    embed_seconds = time.perf_counter() - embed_started
    if not records:
        example = next(iter(skipped.items()), ("-", "the galleries hold no images"))
        raise ValueError(f"no gallery image could be embedded: {len(skipped)} skipped, for example {example[0]}: {example[1]}")

    if is_up_to_date(previous, full, kept_count, records, previous_paths, factory, sources):
        return BuildReport(
            version=previous.version, count=len(records), embedded=0, kept=kept_count, removed=0, skipped=skipped,
            seconds=time.perf_counter() - started, up_to_date=True,
        )
    if previous is not None and previous.model_hash == model_hash and previous.calibration and not full:
        calibration = previous.calibration
    else:
        calibration = lfw_calibration(run, embedder, lfw_dir, workers).to_dict()

    order = np.argsort([r.id for r in records], kind="stable")
    records = [records[i] for i in order]
    matrix = np.stack(vectors)[order].astype(np.float32)
    calibration = gallery_calibration(Calibration.from_dict(calibration), records, matrix, trained_people(run))
    current_paths = {image.path for _, _, images in sources for image in images}
    report = BuildReport(
        version="", count=len(records), embedded=len(records) - kept_count, kept=kept_count,
        removed=len(previous_paths - current_paths), skipped=skipped, embed_seconds=embed_seconds,
    )
    report.seconds = time.perf_counter() - started
    manifest = new_manifest(run, embedder, model_hash, factory, sources, matrix, calibration, report, excluded)
    report.version = store.publish(manifest, records, matrix).name
    return report


def new_manifest(
    run: RunDir, embedder: Embedder, model_hash: str, factory: str, sources: list[Source], matrix: np.ndarray,
    calibration: dict, report: BuildReport, excluded: set[str],
) -> Manifest:
    """The manifest of the version being published: the model, the index factory, the galleries, the calibration
    and the build's figures (``report``)."""
    manifest = Manifest(
        model_hash=model_hash, model_run=str(run.path), dim=int(matrix.shape[1]), image_size=embedder.image_size,
        count=len(matrix), factory=factory, galleries=[g.to_dict(kind) for g, kind, _ in sources],
        built_at="", build_seconds=0.0, calibration=calibration,
    )
    manifest.build_seconds = round(report.seconds, 3)
    manifest.stats = {
        "embedded": report.embedded, "kept": report.kept, "removed": report.removed, "skipped": len(report.skipped),
        "images_per_second": round(report.images_per_second, 1), "excluded_people": sorted(excluded),
    }
    return manifest


def checked_galleries(galleries: Sequence[GallerySource] | Path) -> Sequence[GallerySource]:
    """The gallery sources (a single folder becomes one source); one or more, with distinct prefixes and known kinds."""
    if isinstance(galleries, (str, Path)):
        galleries = [GallerySource(Path(galleries))]
    prefixes = [g.prefix for g in galleries]
    if not galleries or len(set(prefixes)) != len(prefixes):
        raise ValueError(f"give one or more galleries with distinct prefixes, got {prefixes}")
    for gallery in galleries:
        if gallery.kind not in GALLERY_KINDS:
            raise ValueError(f"gallery kind {gallery.kind!r} is not one of {', '.join(GALLERY_KINDS)}")
    return galleries


def lfw_trained_run(run_dir: Path) -> tuple[RunDir, Path]:
    """The run and its best checkpoint; an error unless it holds a model trained on LFW."""
    run = RunDir(run_dir)
    checkpoint = run.checkpoint("best")
    if not run.exists() or not checkpoint.exists():
        raise FileNotFoundError(f"{run.path} holds no trained model (no checkpoints/best.pt): train one with `doppelganger train`")
    config = run.config()
    if config.dataset != "lfw":
        raise ValueError(f"{run.path} was trained on {config.dataset}; a face index needs a model trained on LFW")
    return run, checkpoint


def scan_sources(galleries: Sequence[GallerySource], excluded: set[str]) -> list[Source]:
    """Every gallery's images (without the ``excluded`` people), recorded under its prefix, and its kind (``auto``
    detected from the images)."""
    sources: list[Source] = []
    for gallery in galleries:
        found = [image for image in scan_gallery(Path(gallery.root)) if image.person not in excluded]
        kind = gallery.kind if gallery.kind != "auto" else (detect_kind(Path(gallery.root), found) if found else "aligned")
        sources.append((gallery, kind, [GalleryImage(i.person, gallery.prefix + i.path, i.content_hash) for i in found]))
    return sources


def reusable_embeddings(
    previous: Manifest | None, old_records: list[ImageRecord] | None, old_vectors: np.ndarray | None,
    sources: list[Source], model_hash: str, dim: int, full: bool,
) -> dict[tuple[str, str], tuple[int, np.ndarray]]:
    """The previous version's ``{(path, content hash): (id, embedding)}`` that this build may keep: none for a
    ``full`` build or another model, and none of a source whose kind changed (aligned <-> photos crop an image
    differently)."""
    reusable: dict[tuple[str, str], tuple[int, np.ndarray]] = {}
    if previous is None or full or previous.model_hash != model_hash or previous.dim != dim:
        return reusable
    unchanged = {(g["prefix"], g["kind"]) for g in previous.galleries}
    stable = [g.prefix for g, kind, _ in sources if (g.prefix, kind) in unchanged]
    for record, vector in zip(old_records, old_vectors):
        if source_prefix(record.path, [g.prefix for g, _, _ in sources]) in stable:
            reusable[(record.path, record.content_hash)] = (record.id, vector)
    return reusable


def keep_unchanged_images(
    sources: list[Source], reusable: dict[tuple[str, str], tuple[int, np.ndarray]], model_hash: str
) -> tuple[list[ImageRecord], list[np.ndarray], list[Source]]:
    """The records and embeddings kept from the previous version, and per source the images still to embed."""
    records: list[ImageRecord] = []
    vectors: list[np.ndarray] = []
    pending: list[Source] = []
    for gallery, kind, images in sources:
        todo = []
        for image in images:
            kept = reusable.get((image.path, image.content_hash))
            if kept is None:
                todo.append(image)
            else:
                records.append(ImageRecord(kept[0], image.person, image.path, image.content_hash, model_hash))
                vectors.append(kept[1])
        pending.append((gallery, kind, todo))
    return records, vectors, pending


def embed_pending(
    pending: list[Source], crop: Crop, embedder: Embedder, workers: int, locate: Locate | None, model_hash: str,
    next_id: int, records: list[ImageRecord], vectors: list[np.ndarray], progress: bool,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, str]:
    """Embed the images still to embed, appending their records (new ids from ``next_id``) and embeddings to
    ``records`` and ``vectors``: face frames through ``aligned_batches``, whole photos through ``photo_batches``
    (``locate``, by default ``photo_locator()``). Returns the images skipped, with the reason."""
    total = sum(len(todo) for _, _, todo in pending)
    skipped: dict[str, str] = {}
    done = 0
    with tqdm(total=total, desc="embedding", unit="img", disable=not progress) as bar:
        for gallery, kind, todo in pending:
            by_path = {image.path[len(gallery.prefix):]: image for image in todo}
            paths = list(by_path)
            if kind == "aligned":
                batches = aligned_batches(Path(gallery.root), paths, crop, workers)
            else:
                locate = locate or photo_locator()
                batches = photo_batches(Path(gallery.root), paths, crop, locate)
            for chunk, inputs, failed in batches:
                good = [i for i, path in enumerate(chunk) if path not in failed]
                skipped.update({gallery.prefix + path: reason for path, reason in failed.items()})
                if good:
                    embedded = embedder.embed(inputs[good])
                    for row, i in enumerate(good):
                        image = by_path[chunk[i]]
                        records.append(ImageRecord(next_id, image.person, image.path, image.content_hash, model_hash))
                        vectors.append(embedded[row])
                        next_id += 1
                bar.update(len(chunk))
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
    return skipped


def is_up_to_date(
    previous: Manifest | None, full: bool, kept_count: int, records: list[ImageRecord], previous_paths: set[str],
    factory: str, sources: list[Source],
) -> bool:
    """Whether the live version already is this index: every image kept, none removed, the same index factory and
    galleries (an old version without checksums is rebuilt, to get them)."""
    return (
        previous is not None and not full and bool(previous.checksums)
        and kept_count == len(records) and not previous_paths - {r.path for r in records}
        and previous.factory == factory and previous.galleries == [g.to_dict(kind) for g, kind, _ in sources]
    )


def main(args: argparse.Namespace) -> BuildReport:
    from model.settings import get_settings

    settings = get_settings()
    folders = [Path(g) for g in args.gallery] if args.gallery else [image_dir(settings.lfw_dir)]
    galleries = [GallerySource(folder, args.kind, "" if i == 0 else f"{folder.name}/") for i, folder in enumerate(folders)]
    report = build_index(
        Path(args.run) if args.run else settings.model_run, galleries, Path(args.out) if args.out else settings.index_dir,
        settings.lfw_dir, factory=args.factory, full=args.full, workers=args.workers, progress=True,
    )
    if report.up_to_date:
        print(f"index {report.version} is up to date: {report.count} images, nothing to embed ({report.seconds:.1f} s)")
        return report
    print(
        f"index {report.version}: {report.count} images ({report.embedded} embedded, {report.kept} kept, "
        f"{report.removed} removed, {len(report.skipped)} skipped) in {report.seconds:.1f} s; "
        f"embedding {report.images_per_second:.0f} images/s"
    )
    for path, reason in list(report.skipped.items())[:20]:
        print(f"  skipped {path}: {reason}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more")
    return report
