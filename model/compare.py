"""``doppelganger compare --grid FILE``: train a grid of configurations, evaluate each, and write a results report.

A grid file is TOML: a ``[defaults]`` table of ``TrainConfig`` keys applied to every run, and one or more
``[[experiment]]`` tables; a value given as a list expands, so each experiment is the cartesian product of
its lists (merged over the defaults)::

    [defaults]
    backbone = "mobilenet_v2"
    epochs = 12

    [[experiment]]
    loss = "triplet"
    miner = ["random", "batch-hard"]
    dim = [2, 64]

Each run is named by ``TrainConfig.default_run_name()`` and lives in ``--runs-dir/<name>``. Runs go one after
the other: a run with an ``eval.json`` is skipped, one with a ``config.json`` but no ``eval.json`` is resumed,
the others are trained; every run is then evaluated, the baselines (which do not depend on the model) once per
task only. Last comes the report (``model.compare_report``): a Markdown file (``--report``, default ``docs/results.md``) with its figures
in ``results/`` beside it, built from every run of the grid that has been evaluated (``--only`` chooses what
to train, not what the report shows). Beside the report, in ``results/runs/`` (``--summaries``), each evaluated
run gets a small JSON summary (``model.run_summary``: its config, eval.json less the bulky parts, per-epoch
metrics; no weights), to be committed with the report: the accuracy dashboard shows the comparison from them on a
clone without the run directories.

This module imports nothing heavy at the top, so ``doppelganger --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections import Counter
from pathlib import Path

from model.config import TrainConfig
from model.grid import Run, baseline_key, format_duration, load_grid, plan_runs, select_runs

DEFAULT_REPORT = "docs/results.md"


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", required=True, metavar="FILE",
                        help="TOML grid: a [defaults] table and [[experiment]] tables whose list values expand")
    parser.add_argument("--runs-dir", default=None,
                        help="folder of the grid's run directories (default: $DOPPELGANGER_RUNS_DIR/compare)")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="train only the runs whose name matches this shell pattern (repeatable), "
                             "e.g. 'lfw20-*-d64-*'; the report still shows every evaluated run of the grid")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="list the runs, say which are done, partial or to do, estimate the time, and stop")
    mode.add_argument("--report-only", action="store_true",
                      help="train nothing: rebuild the report from the runs that have been evaluated")
    parser.add_argument("--report", default=DEFAULT_REPORT, metavar="PATH",
                        help=f"the Markdown report to write; its figures go to results/ beside it (default: {DEFAULT_REPORT})")
    parser.add_argument("--notes", default=None, metavar="PATH",
                        help="hand-written notes copied verbatim into the report "
                             "(default: <report>-notes.md beside the report, e.g. docs/results-notes.md, if it exists)")
    parser.add_argument("--no-pictures", action="store_true",
                        help="skip the embedding pictures of the best runs (t-SNE takes a while)")
    parser.add_argument("--summaries", default=None, metavar="DIR",
                        help="where each evaluated run's summary goes, <run name>.json, for the accuracy dashboard "
                             "to show without the run directories; commit them with the report "
                             "(default: results/runs/ beside the report, e.g. docs/results/runs)")


def _speed_key(config: TrainConfig) -> tuple:
    return (config.backbone, config.image_size)


def seconds_per_pair(runs: list[Run]) -> tuple[dict[tuple, float], float | None]:
    """Measured training seconds per pair (one epoch's train_seconds / pairs_per_epoch), per backbone and
    image size, and over every run; from whatever epochs the runs have finished."""
    per_key: dict[tuple, list[float]] = {}
    for run in runs:
        for record in run.metrics():
            per_key.setdefault(_speed_key(run.config), []).append(record["train_seconds"] / run.config.pairs_per_epoch)
    overall = [v for values in per_key.values() for v in values]
    rates = {key: sum(values) / len(values) for key, values in per_key.items()}
    return rates, (sum(overall) / len(overall) if overall else None)


def dry_run(selected: list[Run], runs: list[Run]) -> None:
    """Print each selected run's status and an estimate of the training time left."""
    rates, overall = seconds_per_pair(runs)
    left, unknown = 0.0, 0
    counts: Counter[str] = Counter()
    print(f"{len(selected)} run{'s' if len(selected) != 1 else ''}" + (f" of {len(runs)}" if len(selected) != len(runs) else "")
          + f" in {selected[0].path.parent}:")
    for i, run in enumerate(selected, 1):
        status = run.status()
        differs = run.differences()
        metrics = run.metrics()
        counts[status] += 1
        note = f"{len(metrics)}/{run.config.epochs} epochs"
        if status == "done":
            note += f", {sum(m['train_seconds'] for m in metrics) / 60:.1f} min of training"
        if differs:
            note += f"; its saved settings differ from the grid's: {', '.join(differs)}"
        if status != "done":
            rate = rates.get(_speed_key(run.config), overall)
            if rate is None:
                unknown += 1
            else:
                left += max(0, run.config.epochs - len(metrics)) * run.config.pairs_per_epoch * rate
        print(f"  {i:>3}. [{status}] {run.name}  ({note})")
    todo = counts["partial"] + counts["to do"]
    print(f"{counts['done']} done, {counts['partial']} partial, {counts['to do']} to do.")
    if not todo:
        print("Nothing to train: `--report-only` rebuilds the report.")
    elif unknown == todo:
        print("No epoch has been trained yet, so there is no measured speed to estimate the time from.")
    else:
        measured = sum(len(run.metrics()) for run in runs)
        print(f"Estimated training time left: about {format_duration(left)}"
              + (f" for {todo - unknown} of the {todo} runs (no speed measured for the others' backbone and image size)" if unknown else "")
              + f", from the speed of {measured} finished epoch{'s' if measured != 1 else ''}; "
              "validation and evaluation add to it.")


def train_and_evaluate(selected: list[Run], runs: list[Run]) -> None:
    """Train (or resume) and evaluate each selected run that has no eval.json, in order."""
    import torch

    from model.evaluate import main as evaluate_main
    from model.train import main as train_main

    stale = [f"{run.path}: {', '.join(run.differences())}" for run in selected if run.differences()]
    if stale:
        raise ValueError("these run directories hold runs with other settings than the grid's; delete them or "
                         "choose another --runs-dir:\n  " + "\n  ".join(stale))
    have_baselines = {baseline_key(run.config) for run in runs if run.status() == "done" and "baselines" in run.result()}
    threads = torch.get_num_threads()
    for i, run in enumerate(selected, 1):
        status = run.status()
        print(f"run {i}/{len(selected)} {run.name}" + {"done": " (evaluated already: skipped)", "partial": " (resuming)", "to do": ""}[status],
              flush=True)
        if status == "done":
            continue
        try:
            train_main(argparse.Namespace(**run.config.to_dict(), config=None, out=str(run.path), resume=status == "partial"))
            key = baseline_key(run.config)
            evaluate_main(argparse.Namespace(run_dir=str(run.path), checkpoint="best", no_baselines=key in have_baselines))
            have_baselines.add(key)
        finally:
            torch.set_num_threads(threads)  # training and evaluation set their own


def main(args: argparse.Namespace) -> Path | None:
    from model.settings import get_settings

    runs_dir = Path(args.runs_dir) if args.runs_dir else get_settings().runs_dir / "compare"
    runs = plan_runs(load_grid(args.grid), runs_dir)
    selected = select_runs(runs, args.only)
    if args.dry_run:
        dry_run(selected, runs)
        return None
    if not args.report_only:
        train_and_evaluate(selected, runs)
    from model.compare_report import build_report

    text = build_report(runs, args)
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    tmp = report.with_name(report.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, report)
    print(f"wrote {report} ({sum(1 for r in runs if r.status() == 'done')} runs; figures in {report.parent / 'results'})")
    write_summaries(runs, args)
    return report


def summaries_dir(args: argparse.Namespace) -> Path:
    return Path(args.summaries) if getattr(args, "summaries", None) else Path(args.report).parent / "results" / "runs"


def reproduce_command(args: argparse.Namespace, name: str) -> str:
    """The command that trains and evaluates this one run of the grid again, and writes its summary."""
    words = ["doppelganger", "compare", "--grid", args.grid]
    if args.runs_dir:
        words += ["--runs-dir", args.runs_dir]
    words += ["--only", name, "--report", args.report]
    if getattr(args, "summaries", None):
        words += ["--summaries", args.summaries]
    return shlex.join(words)


def write_summaries(runs: list[Run], args: argparse.Namespace) -> list[Path]:
    """A summary of every evaluated run of the grid (``model.run_summary``), labelled with the grid and the report;
    the summaries this grid and report wrote before for runs it no longer has are removed."""
    from model.run_summary import prune_summaries, summarise_run, write_summary

    folder = summaries_dir(args)
    done = [run for run in runs if run.status() == "done"]
    written = [write_summary(summarise_run(run.path, report=args.report, grid=args.grid,
                                           command=reproduce_command(args, run.name)), folder) for run in done]
    removed = prune_summaries(folder, report=args.report, grid=args.grid, keep={run.name for run in done})
    sizes = sorted(path.stat().st_size for path in written)
    if sizes:
        print(f"wrote {len(written)} run summaries in {folder} (median {sizes[len(sizes) // 2] / 1000:.1f} kB, "
              f"largest {sizes[-1] / 1000:.1f} kB): commit them with the report")
    if removed:
        print(f"removed {len(removed)} summaries of runs no longer in the grid: {', '.join(p.name for p in removed)}")
    return written
