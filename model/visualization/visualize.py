"""``doppelganger visualize RUN_DIR``: pictures of a run's embedding, written into ``RUN_DIR/pictures/``.

For each chosen part of the run's saved split (a stratified subsample of at most ``--max-points`` images,
embedded with the best checkpoint):

- ``embedding-<part>-<method>.png``: scatter plots, the ten largest classes in colour, the others grey;
  method ``direct`` for a 2-D embedding, else ``pca`` and ``tsne``;
- ``embedding-<part>-<method>.html``: a self-contained interactive map (hover a point to see its image and
  class, search a class by name) of the direct projection, or of t-SNE;
- ``projector/``: TensorBoard's embedding projector (``tensorboard --logdir RUN_DIR/pictures/projector``).

This module imports nothing heavy at the top, so ``doppelganger --help`` stays fast.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.config import TrainConfig

PARTS = ("train", "val", "test")
DEFAULT_PARTS = ("train", "test")
DEFAULT_MAX_POINTS = 3000
DEFAULT_PERPLEXITY = 30.0


def add_visualize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a directory written by `doppelganger train`")
    parser.add_argument("--out", default=None, help="folder to write the pictures into (default: RUN_DIR/pictures)")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(DEFAULT_PARTS), metavar="PART",
        help=f"parts of the run's split to draw, among {', '.join(PARTS)} (default: {' '.join(DEFAULT_PARTS)})",
    )
    parser.add_argument(
        "--max-points", type=int, default=DEFAULT_MAX_POINTS,
        help=f"draw at most this many images per part, subsampled with every class keeping its share (default: {DEFAULT_MAX_POINTS})",
    )
    parser.add_argument(
        "--perplexity", type=float, default=DEFAULT_PERPLEXITY,
        help=f"t-SNE perplexity, about the number of neighbours each point keeps close (default: {DEFAULT_PERPLEXITY:g})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsample and of t-SNE (default: 0)")


def task_name(config: "TrainConfig", num_classes: int) -> str:
    """A short name of the run's task, as the README writes it: LFW-62, TT100K-71, LFW DevTrain (min 10)."""
    if config.dataset == "lfw" and config.protocol == "devtrain":
        return f"LFW DevTrain (min {config.min_images})"
    return f"{config.dataset.upper()}-{num_classes}"


def plot_title(task: str, part: str, dim: int, method: str, perplexity: float | None = None) -> str:
    from model.visualization.projection import METHOD_NAMES

    name = METHOD_NAMES[method] + (f" (perplexity {perplexity:g})" if method == "tsne" and perplexity else "")
    return f"{task} · {part} · dim {dim} · {name}"


def html_method(dim: int) -> str:
    """The projection the interactive map shows: the embedding itself when 2-D, else t-SNE (neighbourhoods)."""
    return "direct" if dim == 2 else "tsne"


def main(args: argparse.Namespace) -> Path:
    from model.commands import UserError

    start = time.perf_counter()
    if args.max_points < 1:
        raise UserError(f"--max-points must be at least 1, got {args.max_points}")
    if args.perplexity <= 0:
        raise UserError(f"--perplexity must be positive, got {args.perplexity:g}")

    from model.data.lfw import DatasetMissingError
    from model.data.tasks import dataset_cache
    from model.inference import embed_images
    from model.run import RunDir
    from model.settings import get_settings
    from model.visualization.html_map import write_html_map
    from model.visualization.projection import methods_for, project_2d, stratified_subsample, tsne_perplexity
    from model.visualization.projector import ProjectorEmbedding, write_projector
    from model.visualization.scatter import scatter_plot

    run = RunDir(args.run_dir)
    if not run.exists():
        raise UserError(f"{run.path} is not a run directory (no config.json); train one with `doppelganger train`")
    if not run.checkpoint("best").exists():
        raise UserError(f"{run.checkpoint('best')} does not exist; has the run finished an epoch?")
    config = run.config()
    split = run.split()
    parts = list(dict.fromkeys(args.parts))
    missing = [p for p in parts if p not in split]
    if missing:
        raise UserError(f"{run.split_file} has no part {', '.join(missing)} (it has {', '.join(split)})")
    settings = get_settings()
    try:
        cache = dataset_cache(config.dataset, settings.data_dir, settings.cache_dir, config.image_size, config.backbone, config.extra_data,
                          face_template=config.face_template)
    except DatasetMissingError as error:
        raise UserError(str(error)) from error
    out = Path(args.out) if args.out else run.path / "pictures"
    out.mkdir(parents=True, exist_ok=True)

    net = run.load_model("best")
    methods = methods_for(config.dim)
    task = task_name(config, len(split["train"].classes))
    written: list[Path] = []
    projector_entries = []
    for part_name in parts:
        part = split[part_name]
        chosen = part.subset(stratified_subsample(part.labels, args.max_points, args.seed))
        if len(chosen) < 3:
            raise UserError(f"the {part_name} part has {len(chosen)} images; at least 3 are needed to draw it")
        images = cache.take(chosen.paths)
        embeddings = embed_images(net, images)
        note = f"{len(chosen)} of {len(part)} images" if len(chosen) < len(part) else f"{len(part)} images"
        print(f"{part_name}: embedded {note}, {len(set(chosen.labels.tolist()))} classes")
        for method in methods:
            t0 = time.perf_counter()
            points = project_2d(embeddings, method, seed=args.seed, perplexity=args.perplexity)
            perplexity = tsne_perplexity(len(points), args.perplexity) if method == "tsne" else None
            title = plot_title(task, part_name, config.dim, method, perplexity)
            written.append(scatter_plot(points, chosen.labels, chosen.classes, out / f"embedding-{part_name}-{method}.png", title))
            if method == html_method(config.dim):
                written.append(write_html_map(
                    out / f"embedding-{part_name}-{method}.html", points, chosen.labels, chosen.classes, images,
                    title=title, subtitle=f"run {run.path.name}", paths=chosen.paths,
                ))
            print(f"{part_name}: {method} projection and pictures in {time.perf_counter() - t0:.1f} s")
        projector_entries.append(ProjectorEmbedding(
            tag=part_name, embeddings=embeddings, labels=chosen.labels, classes=chosen.classes,
            images=images, paths=chosen.paths,
        ))
    written.extend(write_projector(out / "projector", projector_entries))

    print(f"wrote {len(written)} files into {out} in {time.perf_counter() - start:.1f} s:")
    for path in written:
        print(f"  {path}  ({_size(path.stat().st_size)})")
    print(f"3-D view: tensorboard --logdir {out / 'projector'}")
    return out


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024**2 else f"{n / 1024**2:.1f} MB"
