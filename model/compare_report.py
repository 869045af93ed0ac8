"""The report of ``doppelganger compare``: per task, the results table, the training curves and diagnostics,
pictures of the best embeddings, and sentences computed from the numbers (no claim that the numbers do not
make), followed by the hand-written notes and the facts of the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.grid import FIELD_TYPES, IGNORED_KEYS, TASK_KEYS, Run, format_duration
from model.config import COLLAPSE_SPREAD, FACE_BACKBONES, LOSSES, MINERS, TrainConfig

PICTURE_DIMS = (2, 64)
"""The embedding dimensions whose best run per task gets pictures in the report."""
PICTURE_MAX_POINTS = 1000
"""Test images drawn per picture (a stratified subsample): enough to see the classes, quick for t-SNE."""
TOP_CONFUSIONS = 5

COLUMNS = (
    ("ncm_acc", "NCM"),
    ("ncm_acc_per_class", "NCM / class"),
    ("knn1_acc", "1-NN"),
    ("knn1_acc_per_class", "1-NN / class"),
    ("knn5_acc", "5-NN"),
    ("p_at_1", "P@1"),
    ("map_at_r", "MAP@R"),
    ("lfw_view2_acc", "View 2"),
    ("lfw_view2_unseen_acc", "View 2 unseen"),
    ("lfw_devtest_acc", "DevTest"),
)
"""The metrics of the results table, in order; a column appears when some run of the task has it."""
METRIC_NAMES = {
    "ncm_acc": "nearest-class-mean accuracy", "ncm_acc_per_class": "nearest-class-mean accuracy per class",
    "knn1_acc": "1-NN accuracy", "knn1_acc_per_class": "1-NN accuracy per class", "knn5_acc": "5-NN accuracy",
    "p_at_1": "P@1", "map_at_r": "MAP@R", "lfw_view2_acc": "LFW View 2 verification accuracy",
    "lfw_view2_unseen_acc": "LFW View 2 verification accuracy on people the model never trained on",
    "lfw_devtest_acc": "LFW DevTest verification accuracy",
}
BASELINE_NAMES = {"raw_pixels": "raw pixels", "pca_whitened": "PCA-whitened"}
SHOWN_KEYS = ("loss", "miner", "dim")
"""Row labels of the table; other settings that vary within a task get a column of their own."""


@dataclass
class Result:
    """An evaluated run: its eval.json and its per-epoch metrics."""

    run: Run
    result: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)

    name = property(lambda self: self.run.name)
    config = property(lambda self: self.run.config)

    @property
    def closed(self) -> bool:
        return "knn1_acc" in self.result

    @property
    def headline(self) -> str:
        """The metric that ranks runs: 1-NN accuracy on closed sets, MAP@R on open ones."""
        return "knn1_acc" if self.closed else "map_at_r"

    def get(self, key: str) -> float | None:
        value = self.result.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def points(difference: float) -> str:
    return f"{100 * difference:+.1f} points".replace("-", "−")


def task_label(result: Result) -> str:
    config = result.config
    if config.dataset == "lfw" and config.protocol == "devtrain":
        return f"LFW DevTrain (min {config.min_images}) -> DevTest"
    return f"{'LFW' if config.dataset == 'lfw' else 'TT100K'}-{result.result.get('classes', '?')}"


def task_slug(config: TrainConfig) -> str:
    return f"{config.dataset}{config.min_images if config.protocol == 'closed' else config.protocol + str(config.min_images)}"


def method_label(config: TrainConfig, extra: tuple[str, ...] = ()) -> str:
    """"contrastive", "triplet batch-hard", plus any other settings that vary ("lr 0.001")."""
    label = f"triplet {config.miner}" if config.loss == "triplet" else config.loss

    def setting(key: str) -> str | None:
        value = setting_value(config, key)
        if isinstance(value, bool):  # a switch is named when on, and left out when off
            return key.replace("_", " ") if value else None
        return f"{key.replace('_', ' ')} {value}"

    more = ", ".join(filter(None, (setting(key) for key in extra)))
    return label + (f" ({more})" if more else "")


def run_label(result: Result, extra: tuple[str, ...] = ()) -> str:
    config = result.config
    if config.epochs == 0:  # not trained: the network as it starts (a pretrained backbone as published)
        return f"{config.backbone} as published, dim {config.dim}"
    body = f"{config.backbone}{', frozen' if config.freeze_backbone else ''}, " if config.backbone in FACE_BACKBONES else ""
    extra_data = "" if config.extra_data == "none" else f" + {config.extra_data}"
    return f"{body}{method_label(config, extra)}{extra_data}, dim {config.dim}"


def _order(result: Result) -> tuple:
    c = result.config
    return (LOSSES.index(c.loss), MINERS.index(c.miner) if c.loss == "triplet" else -1, c.dim, result.name)


def group_by_task(results: list[Result]) -> dict[tuple, list[Result]]:
    tasks: dict[tuple, list[Result]] = {}
    for result in results:
        tasks.setdefault(tuple(getattr(result.config, k) for k in TASK_KEYS), []).append(result)
    return {key: sorted(group, key=_order) for key, group in tasks.items()}


def setting_value(config: TrainConfig, key: str) -> Any:
    """The value a run trained with: its loss's own margin when it named none, else the saved setting."""
    return config.loss_margin if key == "margin" else getattr(config, key)


def varying_keys(results: list[Result]) -> tuple[str, ...]:
    """Settings other than loss, miner and dim whose value differs between the runs that use them (a setting of
    one loss, ``None`` in the others' runs, varies only if its own runs differ; so does the margin, whose default
    is each loss's own)."""
    skip = set(SHOWN_KEYS) | set(TASK_KEYS) | set(IGNORED_KEYS)

    def varies(key: str) -> bool:
        if key == "margin":
            return any(len({r.config.loss_margin for r in results if r.config.loss == loss}) > 1
                       for loss in {r.config.loss for r in results})
        return len({getattr(r.config, key) for r in results} - {None}) > 1

    return tuple(key for key in FIELD_TYPES if key not in skip and varies(key))


def common_settings(results: list[Result]) -> str:
    keys = ("backbone", "epochs", "seed", "image_size", "pairs_per_epoch", "batch_size", "lr")
    words = {"backbone": "backbone {}", "epochs": "{} epochs", "seed": "seed {}", "image_size": "{} px input",
             "pairs_per_epoch": "{} pairs per epoch", "batch_size": "batches of {} pairs", "lr": "peak learning rate {}"}
    if all(r.config.epochs == 1 for r in results):
        words["epochs"] = "{} epoch"
    parts = []
    for key in keys:
        values = sorted({getattr(r.config, key) for r in results}, key=str)
        parts.append(words[key].format(values[0]) if len(values) == 1 else f"{key} varies ({', '.join(map(str, values))})")
    return ", ".join(parts)


def results_tables(group: list[Result]) -> list[str]:
    """The Markdown table of one task: a row per run (best value per column in bold), then the baselines."""
    extra = varying_keys(group)
    baselines = next((r.result["baselines"] for r in group if r.result.get("baselines")), {})
    columns = [(key, label) for key, label in COLUMNS
               if any(r.get(key) is not None for r in group) or any(key in b for b in baselines.values())]
    best = {key: max((r.get(key) for r in group if r.get(key) is not None), default=None) for key, _ in columns}
    head = ["loss", "miner", "dim", *extra, *(label for _, label in columns), "train min", "best epoch"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * (3 + len(extra)) + "---:|" * (len(columns) + 2)]

    def cell(values: dict[str, Any], key: str, bold: bool) -> str:
        value = values.get(key)
        if value is None:
            return ""
        text = pct(value)
        if key == "lfw_view2_acc" and values.get("lfw_view2_std") is not None:
            text += f" ± {pct(values['lfw_view2_std'])}"
        return f"**{text}**" if bold and value == best[key] else text

    for r in group:
        c = r.config
        row = [c.loss, c.miner if c.loss == "triplet" else "", str(c.dim), *("" if setting_value(c, k) is None else str(setting_value(c, k)) for k in extra)]
        row += [cell(r.result, key, len(group) > 1) for key, _ in columns]
        minutes = r.result.get("train_minutes")
        row += ["" if minutes is None else f"{minutes:.1f}",
                f"{r.result['best_epoch']}/{r.result['epochs']}" if "best_epoch" in r.result else ""]
        lines.append("| " + " | ".join(row) + " |")
    for name, values in baselines.items():
        row = [f"baseline: {BASELINE_NAMES.get(name, name)}", "", "", *([""] * len(extra))]
        row += [cell(values, key, False) for key, _ in columns] + ["", ""]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _new_figure(ncols: int, title: str):
    """A figure of ``ncols`` panels side by side, epochs on integer ticks (no pyplot: no global state)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.2 * ncols, 4.0), layout="constrained")
    axes = figure.subplots(1, ncols)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    figure.suptitle(title)
    return figure, axes


def _epoch_axes(axes, group: list[Result]) -> None:
    """Whole epochs on the x axes: one tick each up to 15 epochs."""
    last = max((m["epoch"] for r in group for m in r.metrics), default=1)
    for ax in axes:
        ax.set_xlim(0.5, last + 0.5)
        if last <= 15:
            ax.set_xticks(range(1, last + 1))


def _percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda y, _: f"{100 * y:.0f}" if abs(100 * y - round(100 * y)) < 1e-9 else f"{100 * y:.1f}")


def _series(result: Result, key: str) -> tuple[list[int], list[float]]:
    records = [m for m in result.metrics if m.get(key) is not None and not math.isnan(m[key])]
    return [m["epoch"] for m in records], [m[key] for m in records]


def plot_curves(group: list[Result], title: str, extra: tuple[str, ...], path: Path) -> Path:
    """Two panels: the training loss per epoch of every run, and the validation metric that picks the best epoch."""
    figure, (loss_ax, val_ax) = _new_figure(2, title)
    closed = all("val_knn1_acc" in m for r in group for m in r.metrics)
    val_key, val_name = ("val_knn1_acc", "validation 1-NN accuracy") if closed else ("val_map_at_r", "validation MAP@R")
    for r in group:
        label = method_label(r.config, extra)
        loss_ax.plot(*_series(r, "loss"), marker="o", markersize=3, label=label)
        val_ax.plot(*_series(r, val_key), marker="o", markersize=3, label=label)
    losses = [v for r in group for v in _series(r, "loss")[1]]
    if losses and min(losses) > 0 and max(losses) > 10 * min(losses):  # losses of different scales
        from matplotlib.ticker import FuncFormatter, NullFormatter

        loss_ax.set_yscale("log")
        loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        loss_ax.yaxis.set_minor_formatter(NullFormatter())  # label the decades only, not every minor tick
    val_ax.yaxis.set_major_formatter(_percent_formatter())
    loss_ax.set(title="training loss", ylabel="mean loss per batch")
    val_ax.set(title=val_name, ylabel=f"{val_name} (%)")
    val_ax.legend(fontsize=8)
    _epoch_axes((loss_ax, val_ax), group)
    figure.savefig(path, dpi=100)
    return path


def plot_diagnostics(group: list[Result], title: str, extra: tuple[str, ...], path: Path) -> Path:
    """Three panels: the fraction of pairs/triplets still active, the positive (solid) and negative (dashed)
    distances, and the spread (near zero when the embedding collapses)."""
    figure, (active_ax, dist_ax, spread_ax) = _new_figure(3, title)
    for index, r in enumerate(group):
        colour = f"C{index % 10}"
        label = method_label(r.config, extra)
        active_ax.plot(*_series(r, "active_fraction"), marker="o", markersize=3, color=colour, label=label)
        dist_ax.plot(*_series(r, "pos_dist"), marker="o", markersize=3, color=colour, label=f"{label}: positive")
        dist_ax.plot(*_series(r, "neg_dist"), marker="s", markersize=3, color=colour, linestyle="--", label=f"{label}: negative")
        spread_ax.plot(*_series(r, "spread"), marker="o", markersize=3, color=colour, label=label)
    spread_ax.axhline(COLLAPSE_SPREAD, color="grey", linewidth=0.8, linestyle=":")
    active_ax.set(title="active fraction (pairs / triplets with a loss)", ylim=(-0.02, 1.02))
    dist_ax.set(title="mean distance: positive (solid), negative (dashed)")
    spread_ax.set(title="spread (std per dimension; dotted: collapse)")
    active_ax.legend(fontsize=8)
    _epoch_axes((active_ax, dist_ax, spread_ax), group)
    figure.savefig(path, dpi=100)
    return path


def draw_pictures(result: Result, out: Path) -> tuple[Path, Path]:
    """The test part's embedding picture of a run and its interactive map (``doppelganger visualize``): the
    embedding itself for 2-D, t-SNE otherwise. Drawn again only when the run was evaluated again since."""
    import contextlib
    import io
    import shutil

    method = "direct" if result.config.dim == 2 else "tsne"
    picture, html = out / f"embedding-test-{method}.png", out / f"embedding-test-{method}.html"
    if picture.exists() and picture.stat().st_mtime >= result.run.eval_file.stat().st_mtime:
        return picture, html
    from model.visualization.visualize import main as visualize_main

    with contextlib.redirect_stdout(io.StringIO()):  # its list of files would name the projector, removed below
        visualize_main(argparse.Namespace(run_dir=str(result.run.path), out=str(out), parts=["test"],
                                          max_points=PICTURE_MAX_POINTS, perplexity=30.0, seed=0))
    shutil.rmtree(out / "projector", ignore_errors=True)  # TensorBoard's projector files: megabytes, not for a report
    if not picture.exists():
        raise FileNotFoundError(f"visualize wrote no {picture.name}")
    print(f"pictures of {result.name} in {out}")
    return picture, html


def best_by(group: list[Result], key: str) -> list[Result]:
    """The runs with the highest value of ``key`` (several when tied)."""
    scored = [r for r in group if r.get(key) is not None]
    if not scored:
        return []
    top = max(r.get(key) for r in scored)
    return [r for r in scored if r.get(key) == top]


def findings(group: list[Result], label: str) -> list[str]:
    """Sentences about one task, every number computed from the runs' results."""
    extra = varying_keys(group)
    baselines = next((r.result["baselines"] for r in group if r.result.get("baselines")), {})
    return [
        f"### {label}", "", "Best configuration by each metric:", "",
        *best_per_metric(group, extra, baselines),
        *baseline_beaten(group, baselines),
        *mining_against_random(group, extra),
        *dimensions_compared(group, extra),
        *collapsed_runs(group),
        *top_confusions(group),
    ]


def best_per_metric(group: list[Result], extra: tuple[str, ...], baselines: dict) -> list[str]:
    """One sentence per metric: the best run(s), their lead over the next best, and the baselines."""
    lines = []
    for key, _ in COLUMNS:
        winners = best_by(group, key)
        if not winners:
            continue
        value = winners[0].get(key)
        if len(winners) > 1 and len(winners) == len([r for r in group if r.get(key) is not None]):
            lines.append(f"- {METRIC_NAMES[key]}: all {len(winners)} runs tie at {pct(value)}%.")
            continue
        sentence = f"- {METRIC_NAMES[key]}: {' and '.join(run_label(w, extra) for w in winners)}, {pct(value)}%"
        others = [r.get(key) for r in group if r not in winners and r.get(key) is not None]
        if others:
            sentence += f" ({points(value - max(others))} over the next best, {pct(max(others))}%)"
        base = {name: b[key] for name, b in baselines.items() if b.get(key) is not None}
        if base:
            sentence += "; baselines: " + ", ".join(f"{BASELINE_NAMES.get(n, n)} {pct(v)}%" for n, v in base.items())
        lines.append(sentence + ".")
    return lines


def baseline_beaten(group: list[Result], baselines: dict) -> list[str]:
    """How many runs beat the strongest baseline on the task's headline metric."""
    headline = group[0].headline
    base = {name: b[headline] for name, b in baselines.items() if b.get(headline) is not None}
    if not base:
        return []
    strongest = max(base.values())
    beat = [r for r in group if r.get(headline) is not None and r.get(headline) > strongest]
    return ["", f"{len(beat)} of {len(group)} run{'s' if len(group) != 1 else ''} beat the strongest baseline "
            f"({BASELINE_NAMES.get(max(base, key=base.get), max(base, key=base.get))}, {pct(strongest)}%) on "
            f"{METRIC_NAMES[headline]}."]


def mining_against_random(group: list[Result], extra: tuple[str, ...]) -> list[str]:
    """Each triplet miner's headline metric against random triplets at the same dimension and settings."""
    headline = group[0].headline
    triplets = [r for r in group if r.config.loss == "triplet"]
    mining = []
    for r in triplets:
        if r.config.miner == "random":
            continue
        reference = [b for b in triplets if b.config.miner == "random" and b.config.dim == r.config.dim
                     and all(setting_value(b.config, k) == setting_value(r.config, k) for k in extra if k != "miner")]
        if reference and r.get(headline) is not None and reference[0].get(headline) is not None:
            ref = reference[0].get(headline)
            mining.append(f"- dim {r.config.dim}, {r.config.miner}: {pct(r.get(headline))}%, "
                          f"{points(r.get(headline) - ref)} against random triplets ({pct(ref)}%).")
    if mining:
        return ["", f"Triplet mining, {METRIC_NAMES[headline]} minus that of random triplets at the same dimension:", "", *mining]
    if triplets:
        return ["", "No random-triplet run at the same dimension to measure the miners against."]
    return []


def dimensions_compared(group: list[Result], extra: tuple[str, ...]) -> list[str]:
    """Per objective, the lowest dimension against the highest, and every dimension where more than two ran."""
    headline = group[0].headline
    metric = METRIC_NAMES[headline]
    dims = sorted({r.config.dim for r in group})
    if len(dims) <= 1:
        return ["", f"Every run of this task has dimension {dims[0]}, so there is no comparison of dimensions."]
    lines: list[str] = []
    low, high = dims[0], dims[-1]
    by_method: dict[str, dict[int, Result]] = {}
    for r in group:
        by_method.setdefault(method_label(r.config, extra), {})[r.config.dim] = r
    sentences = []
    for method, runs in by_method.items():
        if low in runs and high in runs and runs[low].get(headline) is not None and runs[high].get(headline) is not None:
            a, b = runs[low].get(headline), runs[high].get(headline)
            sentences.append(f"- {method}: dim {high} {pct(b)}%, dim {low} {pct(a)}%, {points(b - a)} for dim {high}.")
    if sentences:
        lines += ["", f"Dimension {low} against {high} ({metric}):", "", *sentences]
    sweeps = [
        f"- {method}: " + ", ".join(f"dim {dim} {pct(runs[dim].get(headline))}%" for dim in sorted(runs)) + "."
        for method, runs in by_method.items()
        if len(runs) > 2 and all(r.get(headline) is not None for r in runs.values())
    ]
    if sweeps:
        lines += ["", f"Every dimension trained, for the objectives run at more than two ({metric}):", "", *sweeps]
    return lines


def collapsed_runs(group: list[Result]) -> list[str]:
    """The runs whose embedding collapsed (final spread below ``COLLAPSE_SPREAD``), or the lowest final spread."""
    final = {r.name: r.metrics[-1].get("spread") for r in group if r.metrics}
    collapsed = [name for name, spread in final.items() if spread is not None and spread < COLLAPSE_SPREAD]
    if collapsed:
        return ["", f"Collapsed (final spread below {COLLAPSE_SPREAD}): {', '.join(f'`{n}`' for n in collapsed)}."]
    if final:
        return ["", f"No run collapsed: every final spread is at least {COLLAPSE_SPREAD} "
                f"(lowest {min(v for v in final.values() if v is not None):.3f})."]
    return []


def top_confusions(group: list[Result]) -> list[str]:
    """The most frequent 1-NN confusions of the run with the best 1-NN accuracy."""
    winners = best_by(group, "knn1_acc")
    if not winners or not winners[0].result.get("knn1_confusions"):
        return []
    best = winners[0]
    top = best.result["knn1_confusions"][:TOP_CONFUSIONS]
    return ["", f"The {len(top)} most frequent 1-NN confusions of the best run, `{best.name}` "
            f"(1-NN {pct(best.get('knn1_acc'))}%), test images of the first class taken for the second:", "",
            *[f"- {c['true'].replace('_', ' ')} taken for {c['predicted'].replace('_', ' ')}: "
              f"{c['count']} image{'s' if c['count'] != 1 else ''}" for c in top]]


def command_line(args: argparse.Namespace) -> str:
    words = ["doppelganger", "compare", "--grid", args.grid]
    if args.runs_dir:
        words += ["--runs-dir", args.runs_dir]
    for pattern in args.only:
        words += ["--only", pattern]
    words += ["--report", args.report]
    if args.notes:
        words += ["--notes", args.notes]
    words += [flag for flag, on in (("--report-only", args.report_only), ("--no-pictures", args.no_pictures)) if on]
    return shlex.join(words)


def notes_file(args: argparse.Namespace) -> Path | None:
    if args.notes:
        path = Path(args.notes)
        if not path.exists():
            raise FileNotFoundError(f"--notes {path} does not exist")
        return path
    report = Path(args.report)
    default = report.with_name(f"{report.stem}-notes.md")
    return default if default.exists() else None


def build_report(runs: list[Run], args: argparse.Namespace) -> str:
    """Write the figures into results/ beside the report and return the report's Markdown."""
    report = Path(args.report)
    figures = report.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    results = [Result(run, run.result(), run.metrics()) for run in runs if run.status() == "done"]
    if not results:
        raise ValueError(f"no run of {args.grid} has been evaluated yet in {runs[0].path.parent}; "
                         "run `doppelganger compare` without --report-only first")
    tasks = group_by_task(results)
    lines = [
        *report_introduction(runs, results, args),
        *results_section(tasks),
        *curves_section(tasks, figures, report.parent),
        *([] if args.no_pictures else pictures_section(tasks, figures, report.parent)),
        *findings_section(tasks, args),
        *provenance_section(runs, results, args),
    ]
    return "\n".join(lines) + "\n"


def _link(path: Path, base: Path) -> str:
    """``path`` relative to the report's folder ``base``, as a Markdown link target."""
    return Path(os.path.relpath(path, base)).as_posix()


def report_introduction(runs: list[Run], results: list[Result], args: argparse.Namespace) -> list[str]:
    """The title, what the figures are, and the runs not evaluated yet."""
    lines = [
        "# Results: comparing losses, miners and dimensions",
        "",
        f"Written by `doppelganger compare` from the grid `{args.grid}`: {len(results)} of {len(runs)} runs evaluated. "
        f"All runs: {common_settings(results)}. Figures are percentages on each run's saved test split, with the "
        "best checkpoint (highest validation 1-NN accuracy, or MAP@R for open-set tasks); the best model value of "
        "each column is in bold. The baselines do not learn anything: 1-NN and the other metrics on raw pixels and "
        "on whitened PCA of the training images.",
    ]
    missing = [run.name for run in runs if run.status() != "done"]
    if missing:
        lines += ["", f"Not evaluated yet ({len(missing)}): {', '.join(f'`{n}`' for n in missing)}."]
    return lines


def results_section(tasks: dict[tuple, list[Result]]) -> list[str]:
    """Per task, its data and its results tables."""
    lines = ["", "## Results tables"]
    for group in tasks.values():
        label = task_label(group[0])
        lines += ["", f"### {label}", "", f"{group[0].result.get('train_images', '?')} training and "
                  f"{group[0].result.get('test_images', '?')} test images, {group[0].result.get('classes', '?')} test classes.", ""]
        lines += results_tables(group)
    return lines


def curves_section(tasks: dict[tuple, list[Result]], figures: Path, base: Path) -> list[str]:
    """Per task and dimension, the training curves and the diagnostics, drawn into ``figures``."""
    lines = ["", "## Training curves", "", "Per task and embedding dimension: the training loss per epoch (each loss on "
             "its own scale, so compare shapes rather than heights) and the validation metric that picks the best "
             "epoch; then the diagnostics of the same runs."]
    for group in tasks.values():
        label, slug, extra = task_label(group[0]), task_slug(group[0].config), varying_keys(group)
        for dim in sorted({r.config.dim for r in group}):
            runs_of_dim = [r for r in group if r.config.dim == dim]
            title = f"{label} · dim {dim}"
            curves = plot_curves(runs_of_dim, title, extra, figures / f"curves-{slug}-d{dim}.png")
            diagnostics = plot_diagnostics(runs_of_dim, title, extra, figures / f"diagnostics-{slug}-d{dim}.png")
            lines += ["", f"### {title}", "", f"![{title}: training loss and validation]({_link(curves, base)})", "",
                      f"![{title}: diagnostics]({_link(diagnostics, base)})"]
    return lines


def pictures_section(tasks: dict[tuple, list[Result]], figures: Path, base: Path) -> list[str]:
    """The embedding pictures (and interactive maps) of each task's best run at each of ``PICTURE_DIMS``; a run
    whose picture fails gets a note instead."""
    lines = ["", "## Embeddings of the best runs", "", f"The test images (at most {PICTURE_MAX_POINTS}, every class "
             "keeping its share) embedded by the best run of each task at dimensions "
             f"{' and '.join(map(str, PICTURE_DIMS))}: the 2-D embedding as it is, the others through t-SNE. "
             "The ten largest classes are in colour."]
    for group in tasks.values():
        for dim in PICTURE_DIMS:
            winners = best_by([r for r in group if r.config.dim == dim], group[0].headline)
            if not winners:
                continue
            best = winners[0]
            title = f"{task_label(best)} · dim {dim} · `{best.name}`"
            try:
                picture, html = draw_pictures(best, figures / best.name)
            except Exception as error:  # a missing picture must not lose a report of hours of training
                print(f"warning: no pictures for {best.name}: {error}")
                lines += ["", f"### {title}", "", f"(No picture: {error}.)"]
                continue
            lines += ["", f"### {title}", "", f"![{title}]({_link(picture, base)})"]
            if html.exists():
                lines += ["", f"[Interactive map]({_link(html, base)}) (hover a point to see its image)."]
    return lines


def findings_section(tasks: dict[tuple, list[Result]], args: argparse.Namespace) -> list[str]:
    """The computed findings of every task, then the hand-written notes if there are any."""
    notes = notes_file(args)
    lines = ["", "## What the numbers show", "", "Every sentence below is computed from the runs' results" + (
        ", except the notes at the end, written by hand." if notes else ".")]
    for group in tasks.values():
        lines += [""] + findings(group, task_label(group[0]))
    if notes is not None:
        lines += ["", f"### Notes (from `{notes}`)", "", notes.read_text().rstrip()]
    return lines


def provenance_section(runs: list[Run], results: list[Result], args: argparse.Namespace) -> list[str]:
    """How the report was made: the command, the date, the machine, the training time, the run folder."""
    import datetime
    import platform

    import torch

    total = sum(r.result.get("train_minutes", 0.0) for r in results)
    return [
        "", "## How this report was made", "",
        "```",
        command_line(args),
        "```",
        "",
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
        f"PyTorch {torch.__version__}",
        f"- Total training time: {format_duration(total * 60)} over {len(results)} runs "
        "(training epochs only; validation and evaluation come on top)",
        f"- Run directories: `{runs[0].path.parent}`",
    ]
