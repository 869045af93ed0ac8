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
to train, not what the report shows).

This module imports nothing heavy at the top, so ``doppelganger --help`` stays fast.
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import json
import os
import tomllib
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from model.config import TrainConfig

DEFAULT_REPORT = "docs/results.md"
TASK_KEYS = ("dataset", "min_images", "protocol")
IGNORED_KEYS = ("threads", "device", "amp")
"""Settings that say where and how fast a run trains, not what it learns (a finished run is not rerun because
they differ, and runs saved before a setting existed are not reported as different)."""


# ----------------------------------------------------------------------------------------------- the grid


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


_FIELD_TYPES = {f.name: str(f.type) for f in fields(TrainConfig)}


def _check_value(key: str, value: Any, where: str) -> Any:
    """The value, converted where TOML's types allow (an int for a float); a ValueError naming it otherwise."""
    kind = _FIELD_TYPES[key]
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"{where}: {key} = {value!r} should be {kind.replace(' | None', '')}")
    return value


def _check_keys(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ValueError(f"{where} should be a table of TrainConfig keys")
    unknown = [key for key in table if key not in _FIELD_TYPES]
    if unknown:
        raise ValueError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} "
            f"(known: {', '.join(_FIELD_TYPES)})"
        )
    return table


def expand_grid(grid: dict[str, Any]) -> list[TrainConfig]:
    """Every run of a parsed grid, in order: experiment by experiment, the product of its lists."""
    extra = [key for key in grid if key not in ("defaults", "experiment")]
    if extra:
        raise ValueError(f"unknown table{'s' if len(extra) > 1 else ''} {', '.join(repr(k) for k in extra)}: "
                         "a grid has a [defaults] table and [[experiment]] tables")
    defaults = _check_keys(grid.get("defaults", {}), "[defaults]")
    experiments = grid.get("experiment")
    if not isinstance(experiments, list) or not experiments:
        raise ValueError("the grid has no [[experiment]] table")
    configs: list[TrainConfig] = []
    origin: dict[str, list[int]] = {}
    for number, experiment in enumerate(experiments, 1):
        where = f"experiment {number}"
        merged = {**defaults, **_check_keys(experiment, where)}
        lists = [key for key, value in merged.items() if isinstance(value, list)]
        for key in lists:
            if not merged[key]:
                raise ValueError(f"{where}: {key} is an empty list")
        for combination in itertools.product(*(merged[key] for key in lists)):
            values = {**merged, **dict(zip(lists, combination))}
            values = {key: _check_value(key, value, where) for key, value in values.items()}
            try:
                config = TrainConfig.from_dict(values)
            except ValueError as error:
                chosen = ", ".join(f"{k} {v}" for k, v in zip(lists, combination))
                raise ValueError(f"{where}{f' ({chosen})' if chosen else ''}: {error}") from error
            configs.append(config)
            origin.setdefault(config.default_run_name(), []).append(number)
    duplicates = {name: numbers for name, numbers in origin.items() if len(numbers) > 1}
    if duplicates:
        listed = "; ".join(f"{name} (experiments {', '.join(map(str, n))})" for name, n in duplicates.items())
        raise ValueError(
            f"the grid makes the same run more than once: {listed}. A run's name, and so its directory, covers "
            "dataset, min_images, protocol, loss, miner (triplet only), backbone, dim and seed; runs differing "
            "only in other settings would share it"
        )
    return configs


def load_grid(path: Path | str) -> list[TrainConfig]:
    path = Path(path)
    try:
        grid = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from error
    try:
        return expand_grid(grid)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


# ----------------------------------------------------------------------------------------------- the runs


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """A run's per-epoch records, one per epoch (the last written wins, should a crash have repeated one)."""
    if not path.exists():
        return []
    records = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["epoch"]] = record
    return [records[epoch] for epoch in sorted(records)]


@dataclass
class Run:
    """One run of the grid: its config and what its directory holds so far."""

    config: TrainConfig
    path: Path

    name = property(lambda self: self.path.name)
    eval_file = property(lambda self: self.path / "eval.json")
    config_file = property(lambda self: self.path / "config.json")

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.path / "metrics.jsonl")

    def differences(self) -> list[str]:
        """The settings in which the saved run differs from the grid's ("epochs 1 != 12"); empty if none."""
        if not self.config_file.exists():
            return []
        # A run saved before a setting existed trained with that setting's default.
        saved = {**TrainConfig().to_dict(), **json.loads(self.config_file.read_text())}
        wanted = self.config.to_dict()
        return [f"{key} {saved[key]!r} != {value!r}" for key, value in wanted.items()
                if key not in IGNORED_KEYS and saved[key] != value]

    def status(self) -> str:
        if self.eval_file.exists():
            return "done"
        return "partial" if self.config_file.exists() else "to do"

    def result(self) -> dict[str, Any]:
        return json.loads(self.eval_file.read_text())


def plan_runs(configs: list[TrainConfig], runs_dir: Path) -> list[Run]:
    return [Run(config, runs_dir / config.default_run_name()) for config in configs]


def select_runs(runs: list[Run], patterns: list[str]) -> list[Run]:
    if not patterns:
        return runs
    chosen = [run for run in runs if any(fnmatch.fnmatchcase(run.name, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"no run of the grid matches --only {' '.join(patterns)}; "
                         f"its runs are: {', '.join(run.name for run in runs)}")
    return chosen


def baseline_key(config: TrainConfig) -> tuple:
    """What the baselines depend on: the task, its split (seed) and the image size; not the model."""
    return (config.dataset, config.min_images, config.protocol, config.seed, config.image_size)


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


def format_duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{int(minutes // 60)} h {int(round(minutes % 60)):02d} min"


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
    return report
