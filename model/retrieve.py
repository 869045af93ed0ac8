"""``doppelganger retrieve RUN_DIR --image PATH``: the gallery images nearest to one image, by a trained run.

The image must be framed as the dataset's own images are (an LFW 250x250 deep-funneled image, a TT100K sign
crop): it gets the very preprocessing of training (``model.transforms.preprocess_for``), then the run's best
checkpoint embeds it, and an exact search finds its ``k`` nearest gallery images (Euclidean distance between
unit vectors, in [0, 2]). The gallery is the run's training part, or every part with ``--gallery-part all``.
When the query is itself a gallery image, that image is left out of the results. ``--sheet`` draws the query
beside its matches, with the class and distance under each.

This module imports nothing heavy at the top, so ``doppelganger --help`` stays fast.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

GALLERY_PARTS = ("train", "all")
DEFAULT_K = 5
TILE = 144
"""Side of each picture of the contact sheet, in pixels."""
PAD = 10
"""Space around and between the pictures of the sheet."""
SEPARATOR = 16
"""Extra space (with a rule) between the query and its matches."""
CAPTION = 40
"""Height of the two caption lines under each picture."""
FONT_SIZE = 12
LFW_FRAME = (250, 250)


def add_retrieve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a directory written by `doppelganger train`")
    parser.add_argument(
        "--image", required=True, metavar="PATH",
        help="query image, framed like the dataset's own (an LFW 250x250 image, a TT100K sign crop)",
    )
    parser.add_argument("-k", type=int, default=DEFAULT_K, help=f"number of matches to list (default: {DEFAULT_K})")
    parser.add_argument(
        "--gallery-part", choices=GALLERY_PARTS, default="train",
        help="search the run's training images, or all of its split: train, val and test (default: train)",
    )
    parser.add_argument("--sheet", metavar="OUT.png", default=None, help="also draw the query and its matches into this PNG")


@dataclass(frozen=True)
class Match:
    rank: int
    class_name: str
    distance: float
    path: Path
    """the gallery image's file"""
    part: str
    """the split part it belongs to"""


@dataclass
class Retrieval:
    """What ``main`` found: the matches, nearest first, and the query's own gallery entry if it was left out."""

    query: Path
    matches: list[Match]
    gallery_size: int
    excluded: Path | None = None
    sheet: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Gallery:
    """The searchable images: relative paths under ``root``, each with its class name and part."""

    root: Path
    paths: list[str]
    class_names: list[str]
    parts: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def build_gallery(split: dict, which: str) -> Gallery:
    """The ``train`` part, or ``all`` the parts of the split (each part keeps its own class names)."""
    names = ["train"] if which == "train" else list(split)
    paths, class_names, parts = [], [], []
    for name in names:
        part = split[name]
        paths.extend(part.paths)
        class_names.extend(part.classes[y] for y in part.labels.tolist())
        parts.extend([name] * len(part))
    return Gallery(root=Path(split[names[0]].root), paths=paths, class_names=class_names, parts=parts)


def locate_in_gallery(query: Path, gallery_paths: Sequence[str], roots: Sequence[Path]) -> int | None:
    """The index of the gallery image that is the file ``query`` itself (under any of ``roots``), else None."""
    query = Path(query).resolve()
    index = {p: i for i, p in enumerate(gallery_paths)}
    names = query.parts
    for depth in range(1, len(names)):
        i = index.get("/".join(names[-depth:]))
        if i is None:
            continue
        for root in roots:
            candidate = Path(root) / gallery_paths[i]
            try:
                if candidate.exists() and candidate.resolve().samefile(query):
                    return i
            except OSError:
                continue
    return None


def load_query(path: Path) -> "Image.Image":
    """The decoded query image (RGB); a missing or undecodable file is a ``UserError``."""
    from PIL import Image, UnidentifiedImageError

    from model.commands import UserError

    path = Path(path)
    if not path.exists():
        raise UserError(f"query image {path} does not exist")
    if not path.is_file():
        raise UserError(f"query image {path} is not a file")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"cannot read {path} as an image ({error})") from error


def _font(size: int = FONT_SIZE):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw, text: str, font, width: int) -> str:
    """``text``, shortened with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def sheet_size(k: int) -> tuple[int, int]:
    """(width, height) of the contact sheet of a query and ``k`` matches."""
    return PAD + (k + 1) * (TILE + PAD) + SEPARATOR, PAD + TILE + CAPTION + PAD


def contact_sheet(query: "Image.Image", query_caption: tuple[str, str], matches: list[tuple["Image.Image", str, str]]) -> "Image.Image":
    """The query, a rule, then each match; two caption lines under every picture. Pictures are resized to TILE."""
    from PIL import Image, ImageDraw

    width, height = sheet_size(len(matches))
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font()
    tiles = [(query, *query_caption)] + list(matches)
    for n, (picture, line1, line2) in enumerate(tiles):
        x = PAD + n * (TILE + PAD) + (SEPARATOR if n else 0)
        sheet.paste(picture.convert("RGB").resize((TILE, TILE), Image.Resampling.LANCZOS), (x, PAD))
        for row, (text, colour) in enumerate(((line1, (0, 0, 0)), (line2, (90, 90, 90)))):
            draw.text((x, PAD + TILE + 4 + row * (FONT_SIZE + 6)), _fit(draw, text, font, TILE), fill=colour, font=font)
    rule = PAD + TILE + PAD // 2 + SEPARATOR // 2
    draw.line([(rule, PAD), (rule, PAD + TILE + CAPTION - 4)], fill=(160, 160, 160), width=2)
    draw.rectangle([PAD - 2, PAD - 2, PAD + TILE + 1, PAD + TILE + 1], outline=(40, 40, 40), width=2)
    return sheet


def _gallery_picture(path: Path, fallback: "np.ndarray", preprocess) -> "Image.Image":
    """A gallery image as the model saw it (same crop), at sheet resolution; the cached pixels if the file is gone."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return Image.fromarray(preprocess(image))
    except OSError:
        return Image.fromarray(fallback)


def main(args: argparse.Namespace) -> Retrieval:
    from model.commands import UserError

    if args.k < 1:
        raise UserError(f"-k must be at least 1, got {args.k}")
    run = run_with_checkpoint(Path(args.run_dir))
    query_path = Path(args.image)
    query_image = load_query(query_path)

    import numpy as np

    from model.data.tasks import run_crop

    config = run.config()
    notes = frame_notes(config.dataset, query_image)
    preprocess = run_crop(config)
    query_pixels = np.array(preprocess(query_image))[None]  # a writable copy, as torch wants
    gallery, images, roots = load_gallery(run, args.gallery_part)
    excluded = locate_in_gallery(query_path, gallery.paths, roots)
    rows = searchable_rows(len(gallery), excluded, args.k)
    matches, hits = nearest_matches(run, query_pixels, images, rows, gallery, args.k)
    result = Retrieval(
        query=query_path, matches=matches, gallery_size=len(gallery),
        excluded=None if excluded is None else gallery.root / gallery.paths[excluded], notes=notes,
    )
    print_matches(run, args.gallery_part, query_path, query_image, gallery, excluded, matches, notes)
    if args.sheet:
        result.sheet = write_sheet(Path(args.sheet), config.dataset, query_path, query_image, matches, images[hits])
        print(f"contact sheet: {result.sheet}")
    return result


def run_with_checkpoint(run_dir: Path):
    """The run (a ``model.run.RunDir``); a ``UserError`` unless it exists and holds a best checkpoint."""
    from model.commands import UserError
    from model.run import RunDir

    run = RunDir(run_dir)
    if not run.exists():
        raise UserError(f"{run.path} is not a run directory (no config.json); train one with `doppelganger train`")
    checkpoint = run.checkpoint("best")
    if not checkpoint.exists():
        raise UserError(f"{run.path} has no checkpoint ({checkpoint} is missing); has the run finished an epoch?")
    return run


def frame_notes(dataset: str, query_image: "Image.Image") -> list[str]:
    """A note when an LFW query is not framed as LFW's images are (the face crop may then miss the face)."""
    if dataset == "lfw" and query_image.size != LFW_FRAME:
        return [
            f"note: LFW images are {LFW_FRAME[0]}x{LFW_FRAME[1]} with the face centred; this one is "
            f"{query_image.size[0]}x{query_image.size[1]}, so the face crop may miss the face"
        ]
    return []


def load_gallery(run, which: str) -> tuple[Gallery, "np.ndarray", list[Path]]:
    """The gallery (``which`` parts of the run's split), its model inputs from the decoded-image cache, and the
    folders where a query may be one of its images."""
    from model.commands import UserError
    from model.data.lfw import DatasetMissingError
    from model.data.tasks import dataset_cache
    from model.settings import get_settings

    config = run.config()
    gallery = build_gallery(run.split(), which)
    settings = get_settings()
    try:
        cache = dataset_cache(config.dataset, settings.data_dir, settings.cache_dir, config.image_size, config.backbone, config.extra_data,
                          face_template=config.face_template)
    except DatasetMissingError as error:
        raise UserError(str(error)) from error
    roots = [gallery.root] + [settings.data_dir / config.dataset / name for name in ("lfw-deepfunneled", "lfw", "")]
    return gallery, cache.take(gallery.paths), roots


def searchable_rows(size: int, excluded: int | None, k: int) -> "np.ndarray":
    """The gallery rows to search: all but the query's own image; a ``UserError`` when fewer than ``k`` are left."""
    import numpy as np

    from model.commands import UserError

    keep = np.ones(size, dtype=bool)
    if excluded is not None:
        keep[excluded] = False
    available = int(keep.sum())
    if k > available:
        raise UserError(f"-k {k} is more than the {available} gallery images there are to search")
    return np.flatnonzero(keep)


def nearest_matches(run, query_pixels: "np.ndarray", images: "np.ndarray", rows: "np.ndarray", gallery: Gallery, k: int) -> tuple[list[Match], "np.ndarray"]:
    """The ``k`` gallery images (among ``rows``) nearest to the query by the run's best model, nearest first, and
    their gallery rows."""
    import numpy as np

    from model.evaluation.neighbors import nearest_neighbors
    from model.inference import embed_images

    net = run.load_model("best")
    query_embedding = embed_images(net, query_pixels)
    # float64: the search expands ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, which in float32 loses small distances
    # (about 3e-4 of absolute error near 0, where close look-alikes lie); one query costs nothing extra.
    gallery_embeddings = embed_images(net, images[rows]).astype(np.float64)
    distances, indices = nearest_neighbors(query_embedding.astype(np.float64), gallery_embeddings, k)
    hits = rows[indices[0]]
    matches = [
        Match(rank=r + 1, class_name=gallery.class_names[i], distance=float(d), path=gallery.root / gallery.paths[i], part=gallery.parts[i])
        for r, (i, d) in enumerate(zip(hits.tolist(), distances[0].tolist()))
    ]
    return matches, hits


def print_matches(
    run, gallery_part: str, query_path: Path, query_image: "Image.Image", gallery: Gallery, excluded: int | None,
    matches: list[Match], notes: list[str],
) -> None:
    """The query, the gallery searched, the notes, and one line per match."""
    described = "training part" if gallery_part == "train" else "train, val and test parts"
    print(f"query: {query_path} ({query_image.size[0]}x{query_image.size[1]})")
    print(f"gallery: the {described} of {run.path.name}, {len(gallery)} images of {len(set(gallery.class_names))} classes")
    for note in notes:
        print(note)
    if excluded is not None:
        print(f"the query is itself in the gallery ({gallery.parts[excluded]}: {gallery.paths[excluded]}): left out of the results")
    width = max(len("class"), *(len(m.class_name) for m in matches))
    print(f"{'rank':>4}  {'class':<{width}}  {'distance':>8}  image")
    for m in matches:
        print(f"{m.rank:>4}  {m.class_name:<{width}}  {m.distance:>8.4f}  {m.path}")


def write_sheet(
    sheet_path: Path, dataset: str, query_path: Path, query_image: "Image.Image", matches: list[Match], match_pixels: "np.ndarray"
) -> Path:
    """Draw the query beside its matches (``match_pixels``: their cached model inputs, the fallback when a file
    cannot be read) into the PNG ``sheet_path``."""
    from PIL import Image

    from model.commands import UserError
    from model.transforms import preprocess_for

    display = preprocess_for(dataset, TILE)
    pictures = [
        (_gallery_picture(m.path, pixels, display), m.class_name.replace("_", " "), f"#{m.rank}   distance {m.distance:.3f}")
        for m, pixels in zip(matches, match_pixels)
    ]
    sheet = contact_sheet(Image.fromarray(display(query_image)), ("query", query_path.name), pictures)
    if sheet_path.parent != Path(""):
        sheet_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sheet.save(sheet_path, format="PNG")
    except OSError as error:
        raise UserError(f"cannot write {sheet_path} ({error})") from error
    return sheet_path
