"""``doppelganger index build``: embed a gallery and publish it as a new index version.

A rebuild is incremental. An image keeps its embedding (and its id) when the previous version holds the same
path with the same content hash, embedded by the same model with the same crop and in the same gallery kind; new
and changed images are embedded, removed ones dropped. A new model (another checkpoint hash) or another crop
embeds everything again. The new version is published atomically (``index.storage``): a build that fails, at
any point, leaves the previous version serving.

Before it decodes anything, a build checks everything it will need (``index.preflight``), so a missing file stops
it in a second, not after an hour of embedding. What it embeds is committed to a checkpoint every batch
(``index.journal``): a build that fails or is stopped, run again, embeds only the images it had not done.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pickle
import sqlite3
import sys
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import faiss
import numpy as np
from PIL import Image
from tqdm import tqdm

from index.calibration import MIN_PAIRS, Calibration, calibrate_on_lfw, fit_search_threshold
from index.gallery import GALLERY_KINDS, GalleryImage, content_hash, detect_kind, list_images
from index.journal import Done, EmbeddingJournal, checkpointed, journal_path
from index.manifest import Manifest
from index.metadata import FaceBox, ImageRecord, MetadataStore
from index.preflight import check_calibration_data, check_images, check_mtcnn, check_output, check_photo_detector
from index.storage import METADATA, IndexCorruptError, IndexDir, verify_version
from index.vector_index import DEFAULT_FACTORY
from model.data.lfw import image_dir, read_pairs
from model.hashing import file_sha256
from model.inference import Embedder
from model.run import RunDir
from model.data.batch_decode import decode_chunks, decoding_pool
from model.data.cache import ImageCache
from model.data.tasks import run_crop
from model.faces.crop import AlignedCrop, FrameCrop
from model.faces.detector import Face
from model.transforms import Preprocess, Resized

log = logging.getLogger("doppelganger")

BATCH = 256
PHOTO_CHUNK = 16
"""Whole photos per task of the decoding pool, and per embedding batch: detection takes a good fraction of a
second a photo, so small tasks keep every process busy and the checkpoint close behind."""
Crop = Preprocess | FrameCrop | AlignedCrop | Resized
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
    resumed: int = 0
    """Images whose embedding (or reason to be skipped) came from the checkpoint of a build that did not finish."""
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


PhotoChunk = tuple[list[str], np.ndarray, dict[str, str], dict[str, FaceBox]]
"""One chunk of whole photos: its paths, their model inputs, ``{path: reason}`` of the photos left out (their rows
are zeros) and ``{path: FaceBox}`` of the faces found."""


def photo_batches(root: Path, paths: list[str], crop: Crop, locate: Locate | None, workers: int = 1) -> Iterator[PhotoChunk]:
    """Model inputs of whole photos, ``PHOTO_CHUNK`` at a time and in order: ``locate`` decodes each and finds its
    largest face (default ``photo_locator()``), ``crop`` aligns it.

    With ``workers`` > 1 a pool of that many processes decodes and detects ahead of the caller (each builds its
    own ``photo_locator()``, or unpickles ``locate``); a ``locate`` that cannot be pickled (a closure) runs in this
    process."""
    chunks = [paths[i : i + PHOTO_CHUNK] for i in range(0, len(paths), PHOTO_CHUNK)]
    if locate is not None and workers > 1 and not _picklable(locate):
        log.info("the face locator cannot be sent to other processes: whole photos are decoded in this one")
        workers = 1
    if workers <= 1 or len(chunks) <= 1:
        locate = locate or photo_locator()
        for chunk in chunks:
            yield (chunk, *_photo_chunk(str(root), chunk, crop, locate))
        return
    pool = decoding_pool(min(workers, len(chunks)))
    ahead: deque = deque()
    queue = iter(chunks)
    try:
        for chunk in queue:  # two tasks per process in flight: results never pile up in memory
            ahead.append((chunk, pool.submit(_photo_chunk, str(root), chunk, crop, locate)))
            if len(ahead) >= 2 * workers:
                break
        while ahead:
            chunk, future = ahead.popleft()
            result = future.result()
            following = next(queue, None)
            if following is not None:
                ahead.append((following, pool.submit(_photo_chunk, str(root), following, crop, locate)))
            yield (chunk, *result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_process_locator: list[Locate] = []
"""The ``photo_locator()`` of a decoding process, built by its first chunk."""


def _photo_chunk(root: str, paths: list[str], crop: Crop, locate: Locate | None) -> tuple[np.ndarray, dict[str, str], dict[str, FaceBox]]:
    """The model inputs, failures and face boxes of the photos ``root/<path>`` (in a decoding process, or this one)."""
    if locate is None:
        if not _process_locator:
            _process_locator.append(photo_locator())
        locate = _process_locator[0]
    out = np.zeros((len(paths), crop.size, crop.size, 3), dtype=np.uint8)
    failed: dict[str, str] = {}
    faces: dict[str, FaceBox] = {}
    for i, path in enumerate(paths):
        try:
            image, face = locate((Path(root) / path).read_bytes())
            out[i] = crop.from_face(image, face)
            faces[path] = FaceBox.of(face.box, image.size)
        except (OSError, ValueError) as error:
            failed[path] = str(error)
    return out, failed, faces


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def photo_locator(detector=None) -> Locate:
    """Decode a photo and find its largest face (``NoFaceError`` when there is none) with ``detector``: by default
    the one the ``detector`` setting names (``DOPPELGANGER_DETECTOR``, ``--detector``), through the same
    photo-to-input path as a match (``model.faces.photo_input``)."""
    from model.faces.detectors import build_detector
    from model.faces.photo_input import photo_input
    from model.settings import get_settings

    detector = detector or build_detector(get_settings().detector)

    def locate(data: bytes) -> tuple[Image.Image, Face]:
        found = photo_input(data, detector)
        return found.image, found.face

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


def lfw_calibration(
    run: RunDir, embedder: Embedder, lfw_dir: Path, workers: int, journal: EmbeddingJournal | None = None,
    model_hash: str = "",
) -> Calibration:
    """The similarity calibration of a model, on the LFW View 2 pairs of people it never trained on. With a
    ``journal``, the embeddings of the pairs' images are checkpointed too (keyed by file size and time)."""
    pairs_file = Path(lfw_dir) / "pairs.txt"
    if not pairs_file.exists():
        raise FileNotFoundError(
            f"{pairs_file} is missing: the similarity calibration needs LFW's pairs; get LFW with "
            f"`doppelganger data download lfw`"
        )
    crop = run_crop(run.config())
    root = image_dir(lfw_dir)
    key = f"calibration:{crop.tag}"

    def embed_paths(paths: list[str]) -> np.ndarray:
        stamps = {path: _stamp(root / path) for path in paths} if journal is not None else {}
        known = journal.lookup(stamps.items(), model_hash, key) if journal is not None else {}
        vectors = {path: done.embedding for path, done in known.items() if done.embedding is not None}
        todo = [path for path in paths if path not in vectors]
        for chunk, images, failed in aligned_batches(root, todo, crop, workers):
            if failed:
                raise ValueError(f"cannot read LFW images for the calibration: {failed}")
            embedded = embedder.embed(images)
            vectors.update(zip(chunk, embedded))
            if journal is not None:
                journal.add(model_hash, key, {(path, stamps[path]): Done(row) for path, row in zip(chunk, embedded)})
        return np.stack([vectors[path] for path in paths]) if paths else np.zeros((0, embedder.dim), np.float32)

    return calibrate_on_lfw(embed_paths, read_pairs(pairs_file), trained_people(run))


def _stamp(path: Path) -> str:
    """An LFW image's size and modification time: its identity in the checkpoint (hashing them all would cost more
    than the check saves)."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


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
    (default: ``photo_locator()``, in every decoding process). ``workers``: decoding processes (0: one per core).

    Everything the build needs is checked first (``prepare_build``); what it embeds is checkpointed every batch in
    ``index_dir`` (``index.journal``), so a build that failed or was stopped, run again, embeds only what is left.
    """
    started = time.perf_counter()
    plan = prepare_build(run_dir, galleries, index_dir, lfw_dir, factory, exclude_people, full, embedder, locate)
    run, model_hash, crop, previous = plan.run, plan.model_hash, plan.crop, plan.previous
    embedder = plan.embedder
    workers = workers or (os.cpu_count() or 1)
    sources = hash_sources(plan.listed)

    reusable = reusable_embeddings(previous, plan.old_records, plan.old_vectors, sources, model_hash, crop.tag, embedder.dim, full)
    next_id = int(plan.old_ids.max()) + 1 if previous is not None and len(plan.old_ids) else 0
    previous_paths = {record.path for record in plan.old_records} if previous is not None else set()
    records, vectors, pending = keep_unchanged_images(sources, reusable, model_hash)
    kept_count = len(records)

    journal = EmbeddingJournal(journal_path(index_dir))
    try:
        embed_started = time.perf_counter()
        outcomes, resumed = embed_pending(pending, crop, embedder, workers, locate, model_hash, journal, progress, on_progress)
        embed_seconds = time.perf_counter() - embed_started
        skipped = add_embedded(pending, outcomes, model_hash, next_id, records, vectors)
        if not records:
            example = next(iter(skipped.items()), ("-", "the galleries hold no images"))
            raise ValueError(f"no gallery image could be embedded: {len(skipped)} skipped, for example {example[0]}: {example[1]}")

        if is_up_to_date(previous, full, kept_count, records, previous_paths, factory, sources, crop.tag):
            journal.remove()
            return BuildReport(
                version=previous.version, count=len(records), embedded=0, kept=kept_count, removed=0, skipped=skipped,
                seconds=time.perf_counter() - started, up_to_date=True,
            )
        if plan.reuse_calibration:
            calibration = previous.calibration
        else:
            calibration = lfw_calibration(run, embedder, lfw_dir, workers, journal, model_hash).to_dict()

        order = np.argsort([r.id for r in records], kind="stable")
        records = [records[i] for i in order]
        matrix = np.stack(vectors)[order].astype(np.float32)
        calibration = gallery_calibration(Calibration.from_dict(calibration), records, matrix, plan.trained)
        current_paths = {image.path for _, _, images in sources for image in images}
        resumed_images = sum(1 for path in resumed if outcomes[path].embedding is not None)
        report = BuildReport(
            version="", count=len(records), embedded=len(records) - kept_count - resumed_images, kept=kept_count,
            removed=len(previous_paths - current_paths), skipped=skipped, embed_seconds=embed_seconds,
            resumed=resumed_images,
        )
        report.seconds = time.perf_counter() - started
        manifest = new_manifest(run, embedder, model_hash, factory, sources, matrix, calibration, report, plan.excluded, crop.tag)
        report.version = plan.store.publish(manifest, records, matrix).name
        journal.remove()
        return report
    finally:
        journal.close()


@dataclass
class BuildPlan:
    """What a build works from, once every prerequisite is checked (``prepare_build``)."""

    run: RunDir
    model_hash: str
    crop: Crop
    embedder: Embedder
    store: IndexDir
    listed: list[Source]
    """The gallery sources, their kinds and images, not yet hashed (``GalleryImage.content_hash`` is empty)."""
    excluded: set[str]
    trained: set[str]
    previous: Manifest | None
    old_ids: np.ndarray | None
    old_vectors: np.ndarray | None
    old_records: list[ImageRecord] | None
    reuse_calibration: bool


def prepare_build(
    run_dir: Path, galleries: Sequence[GallerySource] | Path, index_dir: Path, lfw_dir: Path, factory: str,
    exclude_people: Iterable[str], full: bool, embedder: Embedder | None, locate: Locate | None,
) -> BuildPlan:
    """Check everything the build needs before any image is decoded or hashed, cheapest first (``index.preflight``):
    the run and its checkpoint, the galleries and their people, the previous version, LFW's pairs and images
    (when a new calibration will be fitted), the face detector's weights, the index folder, the FAISS factory,
    and last the model. Any missing piece raises at once, saying what to do."""
    galleries = checked_galleries(galleries)
    run, checkpoint = lfw_trained_run(run_dir)
    config = run.config()
    excluded = set(exclude_people)
    listed = list_sources(galleries, excluded)
    crop = run_crop(config)
    trained = _trained_people_or_error(run)
    model_hash = file_sha256(checkpoint)
    store = IndexDir(index_dir)
    _, previous, old_ids, old_vectors, old_records = _previous_version(store)
    reuse_calibration = bool(
        previous is not None and not full and previous.model_hash == model_hash and previous.calibration
        and previous.crop == crop.tag
    )
    if not reuse_calibration:
        check_calibration_data(lfw_dir, trained)
    kinds = {kind for _, kind, images in listed if images}
    if "photos" in kinds and locate is None:
        check_photo_detector()
    if isinstance(getattr(crop, "crop", crop), AlignedCrop) and ("aligned" in kinds or not reuse_calibration):
        check_mtcnn()  # face frames are aligned on MTCNN's landmarks
    check_output(store.path, journal_path(store.path).parent)
    count = sum(len(images) for _, _, images in listed)
    check_images(count, factory, embedder.dim if embedder is not None else config.dim)
    embedder = embedder or Embedder.from_run(run.path)
    return BuildPlan(
        run=run, model_hash=model_hash, crop=crop, embedder=embedder, store=store, listed=listed, excluded=excluded,
        trained=trained, previous=previous, old_ids=old_ids, old_vectors=old_vectors, old_records=old_records,
        reuse_calibration=reuse_calibration,
    )


def _trained_people_or_error(run: RunDir) -> set[str]:
    """``trained_people``, or an error saying the run's split is missing (the calibration needs it)."""
    try:
        return trained_people(run)
    except (OSError, ValueError, KeyError) as error:
        raise FileNotFoundError(
            f"the split of {run.path} cannot be read ({error}): the calibration leaves out the people the model trained "
            f"on, listed in {run.split_file}; use the run's folder as training wrote it"
        ) from error


def new_manifest(
    run: RunDir, embedder: Embedder, model_hash: str, factory: str, sources: list[Source], matrix: np.ndarray,
    calibration: dict, report: BuildReport, excluded: set[str], crop_tag: str = "",
) -> Manifest:
    """The manifest of the version being published: the model, its crop, the index factory, the galleries, the
    calibration and the build's figures (``report``)."""
    manifest = Manifest(
        model_hash=model_hash, model_run=str(run.path), dim=int(matrix.shape[1]), image_size=embedder.image_size,
        count=len(matrix), factory=factory, galleries=[g.to_dict(kind) for g, kind, _ in sources],
        built_at="", build_seconds=0.0, calibration=calibration, crop=crop_tag,
    )
    manifest.build_seconds = round(report.seconds, 3)
    manifest.stats = {
        "embedded": report.embedded, "resumed": report.resumed, "kept": report.kept, "removed": report.removed,
        "skipped": len(report.skipped), "images_per_second": round(report.images_per_second, 1),
        "excluded_people": sorted(excluded),
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


def list_sources(galleries: Sequence[GallerySource], excluded: set[str]) -> list[Source]:
    """Every gallery's images (without the ``excluded`` people), recorded under its prefix, and its kind (``auto``
    detected from the images), without reading the images' bytes: their content hashes are left empty."""
    sources: list[Source] = []
    for gallery in galleries:
        found = [GalleryImage(person, path, "") for person, path in list_images(Path(gallery.root)) if person not in excluded]
        kind = gallery.kind if gallery.kind != "auto" else (detect_kind(Path(gallery.root), found) if found else "aligned")
        sources.append((gallery, kind, [GalleryImage(i.person, gallery.prefix + i.path, "") for i in found]))
    return sources


def hash_sources(listed: list[Source]) -> list[Source]:
    """``list_sources``'s sources with every image's content hash."""
    return [
        (gallery, kind, [GalleryImage(i.person, i.path, content_hash(Path(gallery.root) / i.path[len(gallery.prefix):])) for i in images])
        for gallery, kind, images in listed
    ]


def scan_sources(galleries: Sequence[GallerySource], excluded: set[str]) -> list[Source]:
    """Every gallery's images (without the ``excluded`` people), recorded under its prefix, with their content
    hashes, and its kind (``auto`` detected from the images)."""
    return hash_sources(list_sources(galleries, excluded))


def reusable_embeddings(
    previous: Manifest | None, old_records: list[ImageRecord] | None, old_vectors: np.ndarray | None,
    sources: list[Source], model_hash: str, crop_tag: str, dim: int, full: bool,
) -> dict[tuple[str, str], tuple[ImageRecord, np.ndarray]]:
    """The previous version's ``{(path, content hash): (record, embedding)}`` that this build may keep: none for a
    ``full`` build, another model or another crop (a version that did not record its crop counts as another),
    and none of a source whose kind changed (aligned <-> photos crop an image differently)."""
    reusable: dict[tuple[str, str], tuple[ImageRecord, np.ndarray]] = {}
    if previous is None or full or previous.model_hash != model_hash or previous.dim != dim:
        return reusable
    if previous.crop != crop_tag:
        log.info("the live version was embedded with crop %r, this build crops with %r: every image is embedded again",
                 previous.crop or "(not recorded)", crop_tag)
        return reusable
    unchanged = {(g["prefix"], g["kind"]) for g in previous.galleries}
    stable = [g.prefix for g, kind, _ in sources if (g.prefix, kind) in unchanged]
    for record, vector in zip(old_records, old_vectors):
        if source_prefix(record.path, [g.prefix for g, _, _ in sources]) in stable:
            reusable[(record.path, record.content_hash)] = (record, vector)
    return reusable


def keep_unchanged_images(
    sources: list[Source], reusable: dict[tuple[str, str], tuple[ImageRecord, np.ndarray]], model_hash: str
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
                old, vector = kept
                records.append(ImageRecord(old.id, image.person, image.path, image.content_hash, model_hash, old.face))
                vectors.append(vector)
        pending.append((gallery, kind, todo))
    return records, vectors, pending


def embed_pending(
    pending: list[Source], crop: Crop, embedder: Embedder, workers: int, locate: Locate | None, model_hash: str,
    journal: EmbeddingJournal, progress: bool, on_progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, Done], set[str]]:
    """Embed the images still to embed: face frames through ``aligned_batches``, whole photos through
    ``photo_batches`` (``locate``, by default ``photo_locator()``). An image the ``journal`` already holds for this
    model and crop is not embedded again; every batch embedded is committed to it at once.

    Returns ``{recorded path: Done}`` of every pending image (its embedding and face box, or why it was skipped),
    and the paths whose outcome came from the journal."""
    total = sum(len(todo) for _, _, todo in pending)
    outcomes: dict[str, Done] = {}
    resumed: set[str] = set()
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        bar.update(count)
        if on_progress is not None:
            on_progress(done, total)

    with tqdm(total=total, desc="embedding", unit="img", disable=not progress) as bar:
        for gallery, kind, todo in pending:
            key = f"{kind}:{crop.tag}"
            known = journal.lookup(((image.path, image.content_hash) for image in todo), model_hash, key)
            if known:
                log.info("%d images of %s come from the checkpoint of an unfinished build", len(known), gallery.root)
                outcomes.update(known)
                resumed.update(known)
                advance(len(known))
            by_path = {image.path[len(gallery.prefix):]: image for image in todo if image.path not in known}
            if not by_path:
                continue
            paths = list(by_path)
            if kind == "aligned":
                batches = _without_faces(aligned_batches(Path(gallery.root), paths, crop, workers))
            else:
                batches = photo_batches(Path(gallery.root), paths, crop, locate, workers)
            with contextlib.closing(batches):  # a failure stops the decoding processes at once
                embed_batches(batches, by_path, embedder, model_hash, key, journal, outcomes, advance)
    return outcomes, resumed


def _without_faces(batches: Iterator[tuple[list[str], np.ndarray, dict[str, str]]]) -> Iterator[PhotoChunk]:
    """Face-frame chunks as photo chunks: no face boxes (the face is the frame's centre)."""
    with contextlib.closing(batches):
        for chunk, inputs, failed in batches:
            yield chunk, inputs, failed, {}


def embed_batches(
    batches: Iterator[PhotoChunk], by_path: dict[str, GalleryImage], embedder: Embedder, model_hash: str, key: str,
    journal: EmbeddingJournal, outcomes: dict[str, Done], advance: Callable[[int], None],
) -> None:
    """Embed each decoded chunk and commit it to the ``journal`` before the next one (``embed_pending``)."""
    for chunk, inputs, failed, faces in batches:
        good = [i for i, path in enumerate(chunk) if path not in failed]
        embedded = embedder.embed(inputs[good]) if good else None
        finished: dict[tuple[str, str], Done] = {}
        for path, reason in failed.items():
            image = by_path[path]
            finished[(image.path, image.content_hash)] = Done(None, reason)
        for row, i in enumerate(good):
            image = by_path[chunk[i]]
            finished[(image.path, image.content_hash)] = Done(embedded[row], None, faces.get(chunk[i]))
        journal.add(model_hash, key, finished)
        outcomes.update({path: outcome for (path, _), outcome in finished.items()})
        advance(len(chunk))


def add_embedded(
    pending: list[Source], outcomes: dict[str, Done], model_hash: str, next_id: int, records: list[ImageRecord],
    vectors: list[np.ndarray],
) -> dict[str, str]:
    """Append the embedded images to ``records`` and ``vectors`` in gallery order, with new ids from ``next_id``
    (so a resumed build numbers them as an uninterrupted one would); returns the skipped ones, with the reason."""
    skipped: dict[str, str] = {}
    for _, _, todo in pending:
        for image in todo:
            outcome = outcomes[image.path]
            if outcome.embedding is None:
                skipped[image.path] = outcome.reason or "skipped"
                continue
            records.append(ImageRecord(next_id, image.person, image.path, image.content_hash, model_hash, outcome.face))
            vectors.append(outcome.embedding)
            next_id += 1
    return skipped


def is_up_to_date(
    previous: Manifest | None, full: bool, kept_count: int, records: list[ImageRecord], previous_paths: set[str],
    factory: str, sources: list[Source], crop_tag: str = "",
) -> bool:
    """Whether the live version already is this index: every image kept, none removed, the same crop, index
    factory and galleries (an old version without checksums is rebuilt, to get them)."""
    return (
        previous is not None and not full and bool(previous.checksums) and previous.crop == crop_tag
        and kept_count == len(records) and not previous_paths - {r.path for r in records}
        and previous.factory == factory and previous.galleries == [g.to_dict(kind) for g, kind, _ in sources]
    )


def main(args: argparse.Namespace) -> BuildReport:
    from model.settings import get_settings

    settings = get_settings()
    folders = [Path(g) for g in args.gallery] if args.gallery else [image_dir(settings.lfw_dir)]
    galleries = [GallerySource(folder, args.kind, "" if i == 0 else f"{folder.name}/") for i, folder in enumerate(folders)]
    out = Path(args.out) if args.out else settings.index_dir
    try:
        report = build_index(
            Path(args.run) if args.run else settings.model_run, galleries, out, settings.lfw_dir,
            factory=args.factory, full=args.full, workers=args.workers, progress=True,
        )
    except KeyboardInterrupt:
        print(f"\nstopped; {_kept_hint(out)}", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception:
        if checkpointed(out):
            print(_kept_hint(out), file=sys.stderr)
        raise
    if report.up_to_date:
        print(f"index {report.version} is up to date: {report.count} images, nothing to embed ({report.seconds:.1f} s)")
        return report
    resumed = f", {report.resumed} from an unfinished build's checkpoint" if report.resumed else ""
    print(
        f"index {report.version}: {report.count} images ({report.embedded} embedded{resumed}, {report.kept} kept, "
        f"{report.removed} removed, {len(report.skipped)} skipped) in {report.seconds:.1f} s; "
        f"embedding {report.images_per_second:.0f} images/s"
    )
    for path, reason in list(report.skipped.items())[:20]:
        print(f"  skipped {path}: {reason}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more")
    return report


def _kept_hint(out: Path) -> str:
    return (f"{checkpointed(out)} images embedded so far are kept in {journal_path(out)}: run the same command again "
            f"to embed only the rest")
