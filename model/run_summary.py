"""Run summaries: one small JSON file per evaluated run, committed with the docs, that the accuracy dashboard reads
when the run directory itself (weights, split, TensorBoard files: ignored by git) is not there.

``doppelganger compare`` writes one per evaluated run of its grid into ``results/runs/`` beside its report (e.g.
``docs/results/runs/<run name>.json``); ``doppelganger runs export RUN_DIR...`` writes them for runs trained
outside a grid. A summary holds::

    format        SUMMARY_FORMAT
    name          the run's name (its directory's name)
    report        the document the run belongs to (docs/results.md), or null
    grid          the grid file that made it (grids/comparison.toml), or null
    command       the command that reproduces it (train and evaluate it, and write this summary again)
    train_command the same run as a `doppelganger train` and `doppelganger evaluate` command
    config        the run's saved config.json
    eval          its eval.json, less what the dashboard never shows (the local paths, the config again, the
                  baselines' ROC curves), its ROC curves thinned to ``ROC_POINTS`` points, NaN as null
    thinned       what was cut and from how much ({"lfw_view2_roc": 1601, ...})
    metrics       its per-epoch records (metrics.jsonl, one record per epoch)

A typical summary is 5 to 15 KB. Nothing heavy is imported at the top: ``doppelganger --help`` stays fast.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path
from typing import Any

SUMMARY_FORMAT = 1
ROC_POINTS = 300
"""ROC curves are thinned to at most this many points (the eval files hold about 1,600): what the dashboard draws."""
PER_CLASS_KEEP = 100
"""A per-class accuracy table ({class: accuracy}) keeps its worst classes only, at most this many."""
PER_CLASS_KEYS = ("knn1_per_class", "knn1_acc_by_class", "per_class_accuracy")
"""Keys an eval.json may hold with accuracy per class ({class: accuracy}); the dashboard shows them when present."""
DROPPED_KEYS = ("run", "config")
"""eval.json keys a summary leaves out: the run's local path, and its config (the summary has it once already)."""
SKIPPED_SETTINGS = ("threads", "device", "amp")
"""Settings that say where and how fast a run trains, not what it learns: left out of its train command."""
SUMMARY_SUFFIX = ".json"


# ------------------------------------------------------------------------------------------------ thinning


def thin(fpr: list[float], tpr: list[float], limit: int = ROC_POINTS) -> tuple[list[float], list[float]]:
    """At most ``limit`` points of a curve, evenly spread over its points, the ends kept (rounded to 5 decimals
    when thinned)."""
    import numpy as np

    n = min(len(fpr), len(tpr))
    if n <= limit:
        return [float(v) for v in fpr[:n]], [float(v) for v in tpr[:n]]
    keep = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return [round(float(fpr[i]), 5) for i in keep], [round(float(tpr[i]), 5) for i in keep]


def _is_roc(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("fpr"), list) and isinstance(value.get("tpr"), list)


def clean(value: Any) -> Any:
    """JSON-safe, recursively: NaN and infinities become None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _worst_first(item: tuple[str, Any]) -> tuple[bool, float]:
    """Sort key of a (class, accuracy) item: the lowest accuracy first, anything not a number last."""
    value = item[1]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return (not number, float(value) if number else 0.0)


def slim_eval(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """An eval.json as a summary keeps it, and what was cut: ``{key: how many points or classes it had}``."""
    out: dict[str, Any] = {}
    thinned: dict[str, int] = {}
    for key, value in values.items():
        if key in DROPPED_KEYS:
            continue
        if _is_roc(value):
            fpr, tpr = thin(value["fpr"], value["tpr"])
            if len(fpr) < min(len(value["fpr"]), len(value["tpr"])):
                thinned[key] = min(len(value["fpr"]), len(value["tpr"]))
            value = {"fpr": fpr, "tpr": tpr}
        elif key in PER_CLASS_KEYS and isinstance(value, dict) and len(value) > PER_CLASS_KEEP:
            thinned[key] = len(value)
            value = dict(sorted(value.items(), key=_worst_first)[:PER_CLASS_KEEP])
        elif key == "baselines" and isinstance(value, dict):  # the dashboard shows no baseline curve
            value = {name: {k: v for k, v in b.items() if not _is_roc(v)} if isinstance(b, dict) else b
                     for name, b in value.items()}
        out[key] = value
    return clean(out), thinned


# ------------------------------------------------------------------------------------------------ commands


def train_command(config: dict[str, Any], run_dir: str) -> str:
    """``doppelganger train <flags> --out RUN_DIR && doppelganger evaluate RUN_DIR``: the flags that differ from the
    defaults of the run's loss, so that the command trains the same run again."""
    from model.config import TRAIN_FLAGS, TrainConfig

    saved = TrainConfig.from_saved(config).to_dict()
    defaults = TrainConfig(loss=saved.get("loss", TrainConfig.loss)).to_dict()  # the loss's own settings' defaults
    defaults["loss"] = TrainConfig.loss  # and the loss is named unless it is the default one
    words = ["doppelganger", "train"]
    switches = {"pretrained": (False, "--no-pretrained"), "freeze_backbone": (True, "--freeze-backbone"),
                "soft_margin": (True, "--soft-margin")}
    for key in TRAIN_FLAGS:
        if key in SKIPPED_SETTINGS or key not in saved or saved[key] is None:
            continue
        value = saved[key]
        if key in switches:
            if value == switches[key][0]:
                words.append(switches[key][1])
        elif value != defaults.get(key):
            words += ["--" + key.replace("_", "-"), str(value)]  # a float's str is its shortest exact form
    words += ["--out", run_dir]
    return f"{shlex.join(words)} && {shlex.join(['doppelganger', 'evaluate', run_dir])}"


# ------------------------------------------------------------------------------------------------ writing


def summarise_run(path: Path | str, *, report: str | None = None, grid: str | None = None,
                  command: str | None = None) -> dict[str, Any]:
    """The summary of the evaluated run in ``path`` (a FileNotFoundError when it has no config.json or eval.json).
    ``command`` reproduces it; by default, its train command."""
    from model.run import RunDir

    run = RunDir(path)
    for needed in (run.config_file, run.eval_json):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} does not exist: summaries are of evaluated runs "
                                    f"(`doppelganger evaluate {run.path}`)")
    config = json.loads(run.config_file.read_text())
    values, thinned = slim_eval(json.loads(run.eval_json.read_text()))
    retrain = train_command(config, str(run.path))
    return {
        "format": SUMMARY_FORMAT,
        "name": run.path.name,
        "report": report,
        "grid": grid,
        "command": command or retrain,
        "train_command": retrain,
        "config": clean(config),
        "eval": values,
        "thinned": thinned,
        "metrics": clean(run.metrics()),
    }


def dumps(summary: dict[str, Any]) -> str:
    """A summary as text: one line per top-level key, and per epoch record, so that git diffs stay readable."""
    lines = []
    for key, value in summary.items():
        if key == "metrics" and value:
            body = "[\n" + ",\n".join("  " + json.dumps(record, allow_nan=False) for record in value) + "\n ]"
        else:
            body = json.dumps(value, allow_nan=False)
        lines.append(f" {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def summary_file(folder: Path | str, name: str) -> Path:
    return Path(folder) / f"{name}{SUMMARY_SUFFIX}"


def write_summary(summary: dict[str, Any], folder: Path | str) -> Path:
    """Write ``folder/<name>.json`` atomically (a reader never sees half a file); its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = summary_file(folder, summary["name"])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(summary))
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------------------------------ reading


def read_summary(path: Path | str) -> dict[str, Any]:
    """A summary file, checked: a ValueError (or OSError) that says what is wrong with it otherwise."""
    from model.config import TrainConfig

    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(summary, dict):
        raise ValueError("not a JSON object")
    version = summary.get("format")
    if not isinstance(version, int) or version > SUMMARY_FORMAT:
        raise ValueError(f"format {version!r} is not a summary format this version reads (1 to {SUMMARY_FORMAT})")
    if summary.get("name") != path.name.removesuffix(SUMMARY_SUFFIX):
        raise ValueError(f"its name {summary.get('name')!r} is not its file's name")
    for key, kind in (("config", dict), ("eval", dict), ("metrics", list)):
        if not isinstance(summary.get(key), kind):
            raise ValueError(f"{key} should be a JSON {'object' if kind is dict else 'array'}")
    if not all(isinstance(m, dict) and isinstance(m.get("epoch"), int) for m in summary["metrics"]):
        raise ValueError("every metrics record should be an object with an integer epoch")
    for key in ("report", "grid", "command", "train_command"):
        if summary.get(key) is not None and not isinstance(summary[key], str):
            raise ValueError(f"{key} should be a string or null")
    try:
        TrainConfig.from_saved(summary["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"its config is not a run's config: {error}") from error
    return summary


def summary_files(folder: Path | str) -> list[Path]:
    """The summary files of ``folder``, by name (none when it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*{SUMMARY_SUFFIX}") if p.is_file() and not p.name.startswith("."))


def prune_summaries(folder: Path | str, *, report: str | None, grid: str | None, keep: set[str]) -> list[Path]:
    """Delete the summaries of ``report`` and ``grid`` whose run is not in ``keep`` (a run the grid no longer has);
    the files deleted. Other reports' summaries, and files that cannot be read, are left alone."""
    removed = []
    for path in summary_files(folder):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (isinstance(summary, dict) and summary.get("report") == report and summary.get("grid") == grid
                and summary.get("name") not in keep):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# ------------------------------------------------------------------------------------------------ the command


def export_main(args) -> list[Path]:
    """``doppelganger runs export RUN_DIR... --to DIR [--report PATH]``: a summary of each evaluated run."""
    from model.settings import get_settings

    folder = Path(args.to) if args.to else get_settings().summaries_dir
    summaries = []
    for run_dir in args.run_dirs:  # every run read before any file is written
        export = ["doppelganger", "runs", "export", run_dir, "--to", str(folder)] + (["--report", args.report] if args.report else [])
        summary = summarise_run(run_dir, report=args.report)
        summary["command"] = f"{summary['train_command']} && {shlex.join(export)}"
        summaries.append(summary)
    written = [write_summary(summary, folder) for summary in summaries]
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1000:.1f} kB)")
    return written
