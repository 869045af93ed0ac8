"""The data of the two dashboards, built from saved files only and cached.

- Accuracy (``AccuracyDashboard``): the served model's evaluation (the run named by the live index's manifest)
  beside the comparison runs (``settings.compare_dir/*/eval.json``) and the committed run summaries
  (``settings.summaries_dir/*.json``, ``model.run_summary``) of runs not there (a live run wins over its summary;
  a summary that cannot be read is skipped with a warning), read with ``model.compare_report``'s helpers:
  metrics, LFW View 2 ROC, per-epoch curves (``metrics.jsonl``), the worst 1-NN confusions with a gallery image
  of each person. Runs that differ only in seed (``...-s0``, ``...-s1``) are one row: the mean of each number,
  its sample standard deviation, and each seed's values. Nothing is recomputed per request: a run's part is
  cached until its files' modification times change.
- Embedding (``EmbeddingMaps``): a 2-D map of every gallery image of the served index. PCA is computed on first
  request (milliseconds); t-SNE once per index version, in a background thread, cached in memory and in
  ``INDEX_DIR/maps/<version>-tsne.json`` (so a restart does not compute it again). PCA is served until t-SNE is
  ready.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from app.services.matching import MatchService
from app.services.served_index import live_manifest
from app.settings import AppSettings
from index.storage import GalleryIndex, IndexDir
from model.config import TrainConfig
from model.grid import IGNORED_KEYS, Run
from model.compare_report import COLUMNS, METRIC_NAMES, Result, group_by_task, run_label, task_label, varying_keys
from model.run import RunDir
from model.run_summary import PER_CLASS_KEYS, ROC_POINTS, read_summary, summary_files, thin  # noqa: F401 (ROC_POINTS)
from model.visualization.projection import project_2d

log = logging.getLogger("doppelganger")

EXTRA_METRICS = ("lfw_view2_std", "lfw_view2_auc", "r_precision", "knn5_acc_per_class", "lfw_devtest_auc")
CURVE_KEYS = ("loss", "val_knn1_acc", "val_map_at_r", "lr")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _mtime_or_zero(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class AccuracyDashboard:
    """The accuracy dashboard's data, cached per run (or summary file) and file modification time."""

    def __init__(self, settings: AppSettings, match_service: MatchService) -> None:
        self.settings = settings
        self.match_service = match_service
        self._runs: dict[str, tuple[tuple, dict[str, Any] | None]] = {}
        self._summaries: dict[str, tuple[tuple, tuple[dict[str, Any], Result] | str]] = {}
        self._first_images: tuple[str, dict[str, int]] | None = None
        self._lock = threading.Lock()

    def served_run(self) -> Path:
        """The run whose model serves: the live index's ``model_run`` (else ``settings.model_run``)."""
        if self.match_service.ready:
            return Path(self.match_service.matcher.index.manifest.model_run)
        manifest = live_manifest(self.settings.index_dir)
        return Path(manifest.model_run) if manifest else Path(self.settings.model_run)

    def compare_runs(self) -> list[Path]:
        root = Path(self.settings.compare_dir)
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if (p / "eval.json").is_file() and (p / "config.json").is_file())

    def _result(self, path: Path) -> Result | None:
        run = RunDir(path)
        if not run.eval_json.is_file() or not run.exists():
            return None
        grid_run = Run(run.config(), run.path)
        return Result(grid_run, grid_run.result(), grid_run.metrics())

    def summary(self, file: Path) -> tuple[dict[str, Any], Result] | str:
        """A committed run summary and its ``Result``, or why it cannot be read (cached per modification time)."""
        key = _stamp(file)
        with self._lock:
            cached = self._summaries.get(str(file))
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            values = read_summary(file)
            run = Run(TrainConfig.from_saved(values["config"]), file.with_name(values["name"]))
            result = Result(run, values["eval"], values["metrics"])
            part = self._summarise(result, ())  # whatever the page reads of it must be there, and numbers
            wrong = [key for key, value in [*part["metrics"].items(), *part["facts"].items()] if not _is_number(value)]
            wrong += [f"{key} of epoch {m['epoch']}" for m in part["curves"] for key, value in m.items() if not _is_number(value)]
            if wrong:
                raise ValueError(f"not a number: {', '.join(wrong)}")
            if not all(isinstance(c, dict) and isinstance(c.get("true"), str) and isinstance(c.get("predicted"), str)
                       and isinstance(c.get("count"), int) for c in part["confusions"]):
                raise ValueError("knn1_confusions should be a list of {true, predicted, count}")
            json.dumps(part, allow_nan=False)
            entry: tuple[dict[str, Any], Result] | str = (values, result)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("skipping the run summary %s on the accuracy dashboard: %s", file, error)
            entry = f"{type(error).__name__}: {error}" if isinstance(error, OSError) else str(error)
        with self._lock:
            self._summaries[str(file)] = (key, entry)
        return entry

    def run_data(self, path: Path, extra: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """One run's part of the dashboard (None without an eval.json), cached per modification times."""
        path = Path(path)
        key = (extra, *(_mtime_or_zero(path / name) for name in ("eval.json", "metrics.jsonl", "config.json")))
        with self._lock:
            cached = self._runs.get(str(path))
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            result = self._result(path)
            data = None if result is None else self._summarise(result, extra) | {"source": "run"}
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("cannot read run %s for the dashboard: %s", path, error)
            data = {"name": path.name, "path": str(path), "error": f"cannot read this run: {error}"}
        with self._lock:
            self._runs[str(path)] = (key, data)
        return data

    def summary_data(self, file: Path, values: dict[str, Any], result: Result, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """One committed summary's part of the dashboard, as a run's, with where it comes from."""
        key = (extra, _stamp(file))
        with self._lock:
            cached = self._runs.get(f"summary:{file}")
            if cached is not None and cached[0] == key and cached[1] is not None:
                return cached[1]
        data = self._summarise(result, extra) | {
            "path": str(file), "source": "summary",
            **{k: values.get(k) for k in ("report", "grid", "command", "train_command")},
        }
        with self._lock:
            self._runs[f"summary:{file}"] = (key, data)
        return data

    def _summarise(self, result: Result, extra: tuple[str, ...]) -> dict[str, Any]:
        values = result.result
        config = result.config
        metrics = {key: _clean(values.get(key)) for key, _ in COLUMNS if values.get(key) is not None}
        metrics |= {key: _clean(values[key]) for key in EXTRA_METRICS if values.get(key) is not None}
        roc = values.get("lfw_view2_roc") or {}
        fpr, tpr = thin(roc.get("fpr", []), roc.get("tpr", []))
        per_class = next((values[k] for k in PER_CLASS_KEYS if isinstance(values.get(k), dict)), None)
        worst = sorted(((str(c), float(a)) for c, a in per_class.items() if a is not None), key=lambda item: item[1]) if per_class else []
        return {
            "name": result.name,
            "path": str(result.run.path),
            "label": run_label(result, extra),
            "task": task_label(result),
            "headline": result.headline,
            "config": {k: getattr(config, k) for k in ("dataset", "backbone", "loss", "miner", "dim", "epochs", "image_size")},
            "metrics": metrics,
            "roc": {"fpr": fpr, "tpr": tpr} if fpr else None,
            "curves": [{"epoch": m.get("epoch")} | {k: _clean(m.get(k)) for k in CURVE_KEYS if k in m} for m in result.metrics],
            "confusions": list(values.get("knn1_confusions") or []),
            "per_class": [{"class": c, "accuracy": a} for c, a in worst],
            "facts": {k: _clean(values.get(k)) for k in ("train_images", "test_images", "classes", "epochs", "best_epoch", "train_minutes")},
        }

    def first_images(self) -> dict[str, int]:
        """Person -> the id of their first image in the served index (cached per index version)."""
        if not self.match_service.ready:
            return {}
        index = self.match_service.matcher.index
        cached = self._first_images
        if cached is not None and cached[0] == index.version:
            return cached[1]
        first: dict[str, int] = {}
        for record in index.metadata.records():  # by id: the first one wins
            first.setdefault(record.person, record.id)
        self._first_images = (index.version, first)
        return first

    def _with_images(self, confusions: list[dict[str, Any]], images: dict[str, int]) -> list[dict[str, Any]]:
        out = []
        for c in confusions:
            row = dict(c)
            for side in ("true", "predicted"):
                image_id = images.get(str(c.get(side)))
                row[f"{side}_image"] = None if image_id is None else f"/gallery/{image_id}/image"
            out.append(row)
        return out

    def data(self) -> dict[str, Any]:
        """Everything the accuracy page shows."""
        served_path = self.served_run()
        # The comparison: the live runs of compare_dir, then the committed summaries of runs not there.
        results: list[Result] = []
        live: dict[str, Path] = {}
        for path in self.compare_runs():
            try:
                result = self._result(path)
            except (OSError, ValueError, KeyError, TypeError):
                result = None
            if result is not None:
                results.append(result)
                live[result.name] = path
        summaries: dict[str, tuple[Path, dict[str, Any], Result]] = {}
        skipped = []
        for file in summary_files(self.settings.summaries_dir):
            entry = self.summary(file)
            if isinstance(entry, str):
                skipped.append({"file": str(file), "error": entry})
                continue
            values, result = entry
            if result.name in live or result.name == served_path.name:  # a live run wins over its summary
                continue
            summaries[result.name] = (file, values, result)
            results.append(result)
        # The label of a comparison run names the settings that vary within its task, as the report does (but not
        # the seed: runs that differ only in seed are one row, their mean and spread).
        extra_of: dict[str, tuple[str, ...]] = {}
        ordered: list[Result] = []
        for group in group_by_task(results).values():
            extra = tuple(key for key in varying_keys(group) if key != "seed")
            for r in group:
                extra_of[r.name] = extra
                ordered.append(r)
        parts: list[dict[str, Any]] = []
        configs: dict[int, dict[str, Any]] = {}
        for r in ordered:
            if r.name in summaries:
                file, values, _ = summaries[r.name]
                part: dict[str, Any] | None = self.summary_data(file, values, r, extra_of[r.name])
            elif Path(r.run.path).resolve() == served_path.resolve():
                continue  # the served run is shown once, as the served model, even when it is a comparison run
            else:
                part = self.run_data(r.run.path, extra_of[r.name])
            if part is not None:
                part = dict(part)  # a copy: the cached parts are shared between requests
                parts.append(part)
                configs[id(part)] = r.config.to_dict()
        runs = aggregate_seeds(parts, configs)
        served = self.run_data(served_path, extra_of.get(served_path.name, ()))
        served = dict(served) if served is not None else None
        images = self.first_images()
        for part in [served, *runs]:
            if part and part.get("confusions"):
                part["confusions"] = self._with_images(part["confusions"], images)
        present = [(key, label) for key, label in COLUMNS if any(key in (d or {}).get("metrics", {}) for d in [served, *runs])]
        _mark_best([d for d in [served, *runs] if d and "metrics" in d], [key for key, _ in present])
        return {
            "served": served,
            "served_run": str(served_path),
            "served_missing": None if served else (
                f"the served model's run {served_path} has no eval.json: evaluate it with "
                f"`doppelganger evaluate --run {served_path}`"
            ),
            "runs": runs,
            "compare_dir": str(self.settings.compare_dir),
            "summaries_dir": str(self.settings.summaries_dir),
            "skipped_summaries": skipped,
            "columns": [{"key": key, "label": label, "name": METRIC_NAMES.get(key, label)} for key, label in present],
        }


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


# --------------------------------------------------------------------------------------- seeds: mean ± std

SEEDED_NAME = re.compile(r"^(?P<base>.+)-s(?P<seed>\d+)$")
"""A run named by ``TrainConfig.default_run_name()`` ends in its seed: ``...-d64-s0``."""
SEED_FREE_KEYS = ("seed", *IGNORED_KEYS)
"""What may differ between the runs of one row of seeds: the seed, and how fast they trained."""


def aggregate_seeds(parts: list[dict[str, Any]], configs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """``parts`` with the runs that differ only in seed (names ending -s0, -s1, ... and otherwise equal configs)
    folded into one row each, in the place of the first: their mean and sample standard deviation."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for part in parts:
        match = SEEDED_NAME.match(part.get("name", ""))
        if "error" in part or match is None or id(part) not in configs:
            continue
        config = {k: v for k, v in configs[id(part)].items() if k not in SEED_FREE_KEYS}
        groups.setdefault((match["base"], json.dumps(config, sort_keys=True, default=str)), []).append(part)
    folded = {id(members[0]): members for members in groups.values()
              if len(members) > 1 and len({SEEDED_NAME.match(m["name"])["seed"] for m in members}) == len(members)}
    hidden = {id(m) for members in folded.values() for m in members[1:]}
    return [_seed_row(folded[id(part)]) if id(part) in folded else part for part in parts if id(part) not in hidden]


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _seed_row(members: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for the runs of ``members``, alike but for the seed."""
    members = sorted(members, key=lambda m: int(SEEDED_NAME.match(m["name"])["seed"]))
    seeds = [int(SEEDED_NAME.match(m["name"])["seed"]) for m in members]
    first = members[0]
    metrics, spread, by_seed = {}, {}, {}
    for key in dict.fromkeys(k for m in members for k in m["metrics"]):
        pairs = [(s, m["metrics"][key]) for s, m in zip(seeds, members) if m["metrics"].get(key) is not None]
        if pairs:
            metrics[key], spread[key] = _mean_std([v for _, v in pairs])
            by_seed[key] = [{"seed": s, "value": v} for s, v in pairs]
    facts = dict(first["facts"])
    minutes = [m["facts"]["train_minutes"] for m in members if m["facts"].get("train_minutes") is not None]
    facts["train_minutes"] = _mean_std(minutes)[0] if minutes else None
    facts["best_epoch"] = None
    common = {k: first.get(k) if all(m.get(k) == first.get(k) for m in members) else None for k in ("report", "grid", "source")}
    return {
        "name": f"{SEEDED_NAME.match(first['name'])['base']}-s*",
        "path": ", ".join(m["path"] for m in members),
        "label": f"{first['label']} · mean of {len(members)} seeds",
        "task": first["task"],
        "headline": first["headline"],
        "config": first["config"],
        "metrics": metrics,
        "spread": spread,
        "by_seed": by_seed,
        "roc": _mean_roc([m["roc"] for m in members if m.get("roc")]),
        "curves": _mean_curves([m["curves"] for m in members]),
        "confusions": _summed_confusions([m["confusions"] for m in members]),
        "per_class": _mean_per_class([m["per_class"] for m in members if m.get("per_class")]),
        "facts": facts,
        **common,
        "seeds": [{"seed": s, "name": m["name"], "path": m["path"], "source": m.get("source"), "report": m.get("report"),
                   "metrics": m["metrics"], "facts": m["facts"]} for s, m in zip(seeds, members)],
    }


def _mean_roc(curves: list[dict[str, list[float]]]) -> dict[str, list[float]] | None:
    """The seeds' ROC curves averaged vertically (their true positive rates at every false positive rate of any)."""
    if not curves:
        return None
    grid = np.unique(np.concatenate([np.asarray(c["fpr"], dtype=float) for c in curves]))
    tpr = np.mean([np.interp(grid, np.asarray(c["fpr"], dtype=float), np.asarray(c["tpr"], dtype=float)) for c in curves], axis=0)
    fpr, tpr = thin(grid.tolist(), tpr.tolist())
    return {"fpr": [round(v, 5) for v in fpr], "tpr": [round(v, 5) for v in tpr]}


def _mean_curves(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per epoch, the mean of each curve over the seeds that have it."""
    epochs: dict[int, dict[str, list[float]]] = {}
    for curves in runs:
        for record in curves:
            values = epochs.setdefault(record.get("epoch"), {})
            for key in CURVE_KEYS:
                if record.get(key) is not None:
                    values.setdefault(key, []).append(record[key])
    return [{"epoch": e} | {k: sum(v) / len(v) for k, v in values.items()}
            for e, values in sorted(epochs.items(), key=lambda item: (item[0] is None, item[0] or 0))]


def _summed_confusions(runs: list[list[dict[str, Any]]], top: int = 10) -> list[dict[str, Any]]:
    """The seeds' confusions, counts added up (each seed has its own test split), most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for confusions in runs:
        for c in confusions:
            key = (str(c.get("true")), str(c.get("predicted")))
            counts[key] = counts.get(key, 0) + int(c.get("count") or 0)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [{"true": t, "predicted": p, "count": n} for (t, p), n in ranked]


def _mean_per_class(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    accuracies: dict[str, list[float]] = {}
    for rows in runs:
        for row in rows:
            accuracies.setdefault(row["class"], []).append(row["accuracy"])
    means = sorted(((c, sum(v) / len(v)) for c, v in accuracies.items()), key=lambda item: item[1])
    return [{"class": c, "accuracy": a} for c, a in means]


def _mark_best(parts: list[dict[str, Any]], keys: list[str]) -> None:
    """``part["best"]``: the metrics in which the run is the best of its task (bold in the table, as in the report)."""
    for part in parts:
        part["best"] = []
    tasks: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        tasks.setdefault(part["task"], []).append(part)
    for group in tasks.values():
        if len(group) < 2:
            continue
        for key in keys:
            values = [p["metrics"][key] for p in group if p["metrics"].get(key) is not None]
            if values:
                for part in group:
                    if part["metrics"].get(key) == max(values):
                        part["best"].append(key)


class EmbeddingMaps:
    """2-D maps (PCA, t-SNE) of the served index's embeddings, per index version."""

    def __init__(self, settings: AppSettings, match_service: MatchService) -> None:
        self.settings = settings
        self.match_service = match_service
        self._lock = threading.Lock()
        self._base: tuple[str, dict[str, Any]] | None = None
        self._maps: dict[tuple[str, str], np.ndarray] = {}
        self._tsne_state: dict[str, str] = {}
        self._threads: dict[str, threading.Thread] = {}

    def maps_dir(self) -> Path:
        return Path(self.settings.index_dir) / "maps"

    def tsne_file(self, version: str) -> Path:
        return self.maps_dir() / f"{version}-tsne.json"

    def _gallery(self, index: GalleryIndex) -> dict[str, Any]:
        """The index's ids, people and embeddings (the latest version's only, kept in memory)."""
        cached = self._base
        if cached is not None and cached[0] == index.version:
            return cached[1]
        records = index.metadata.records()
        ids, vectors = index.metadata.embeddings()
        people = sorted({r.person for r in records})
        number = {name: i for i, name in enumerate(people)}
        person_of = {r.id: number[r.person] for r in records}
        base = {"ids": ids, "vectors": vectors, "people": people,
                "person_index": np.array([person_of[int(i)] for i in ids], dtype=np.int64)}
        self._base = (index.version, base)
        return base

    def tsne_status(self, version: str) -> str:
        """"ready", "computing", "failed: <why>" or "not started"."""
        if (version, "tsne") in self._maps:
            return "ready"
        return self._tsne_state.get(version, "not started")

    def _pca(self, version: str, vectors: np.ndarray) -> np.ndarray:
        with self._lock:
            xy = self._maps.get((version, "pca"))
        if xy is None:
            xy = _fit(project_2d(vectors, "pca") if len(vectors) >= 3 else _tiny(vectors))
            with self._lock:
                self._maps = {k: v for k, v in self._maps.items() if k[0] == version}  # forget older versions
                self._maps[(version, "pca")] = xy
        return xy

    def _tsne(self, version: str, ids: np.ndarray) -> np.ndarray | None:
        with self._lock:
            xy = self._maps.get((version, "tsne"))
        if xy is not None:
            return xy
        path = self.tsne_file(version)
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
                if saved.get("ids") == [int(i) for i in ids]:
                    xy = np.asarray(saved["xy"], dtype=np.float32).reshape(-1, 2)
                    with self._lock:
                        self._maps[(version, "tsne")] = xy
                    return xy
            except (OSError, ValueError, KeyError):
                pass
        return None

    def start_tsne(self, index: GalleryIndex) -> str:
        """Start computing the t-SNE map of this index version in the background (once); its status."""
        version = index.version
        with self._lock:
            if version in self._threads or (version, "tsne") in self._maps:
                return self.tsne_status(version)
            base = self._gallery(index)
            self._tsne_state[version] = "computing"
            thread = threading.Thread(target=self._compute_tsne, args=(version, base), name=f"tsne-{version}", daemon=True)
            self._threads[version] = thread
        thread.start()
        return "computing"

    def _compute_tsne(self, version: str, base: dict[str, Any]) -> None:
        try:
            vectors = base["vectors"]
            xy = _fit(project_2d(vectors, "tsne") if len(vectors) >= 3 else _tiny(vectors))
            with self._lock:
                self._maps[(version, "tsne")] = xy
                self._tsne_state[version] = "ready"
            try:
                folder = self.maps_dir()
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{version}-tsne.{uuid.uuid4().hex[:6]}"
                tmp.write_text(json.dumps({"version": version, "ids": [int(i) for i in base["ids"]],
                                           "xy": np.round(xy, 4).tolist()}))
                os.replace(tmp, self.tsne_file(version))
                live = IndexDir(self.settings.index_dir).versions
                for old in folder.glob("*-tsne.json"):  # maps of versions that were pruned
                    if not (live / old.name[: -len("-tsne.json")]).is_dir():
                        old.unlink(missing_ok=True)
            except OSError as error:  # a read-only index folder: keep it in memory only
                log.warning("cannot cache the t-SNE map in %s: %s", self.maps_dir(), error)
        except Exception as error:  # noqa: BLE001 - a background thread must not die silently
            log.exception("t-SNE of index %s failed", version)
            with self._lock:
                self._tsne_state[version] = f"failed: {error}"

    def data(self, method: str = "pca") -> dict[str, Any]:
        """``{method, version, tsne, count, people, points: [[x, y, id, person_index], ...]}``; t-SNE asked before
        it is ready gets PCA (``method`` says which was served)."""
        index = self.match_service.matcher.index  # IndexNotReadyError -> 503
        version = index.version
        base = self._gallery(index)
        ids = base["ids"]
        tsne = self._tsne(version, ids)  # from memory, or from the file of an earlier process
        if tsne is None and self.tsne_status(version) == "not started":
            self.start_tsne(index)
        xy = tsne if method == "tsne" else None
        served = "tsne" if xy is not None else "pca"
        if xy is None:
            xy = self._pca(version, base["vectors"])
        rounded = np.round(xy.astype(np.float64), 4)
        points = [[float(x), float(y), int(i), int(p)] for (x, y), i, p in zip(rounded, ids, base["person_index"])]
        return {
            "method": served, "requested": method, "version": version, "tsne": self.tsne_status(version),
            "count": len(points), "people": base["people"], "points": points,
        }

    def status(self) -> dict[str, Any]:
        """``{version, count, tsne}`` of the served index, cheaply (the page polls it while t-SNE computes)."""
        index = self.match_service.matcher.index
        if (index.version, "tsne") not in self._maps:
            self._tsne(index.version, self._gallery(index)["ids"])
        return {"version": index.version, "count": len(index), "tsne": self.tsne_status(index.version)}

    def wait_tsne(self, version: str, timeout: float = 60.0) -> bool:
        thread = self._threads.get(version)
        if thread is not None:
            thread.join(timeout)
        return self.tsne_status(version) == "ready"


def _tiny(vectors: np.ndarray) -> np.ndarray:
    """A map of fewer than 3 points (the projections need 3): the first two coordinates."""
    out = np.zeros((len(vectors), 2), dtype=np.float32)
    out[:, : min(2, vectors.shape[1] if vectors.ndim == 2 else 0)] = vectors[:, :2]
    return out


def _fit(xy: np.ndarray) -> np.ndarray:
    """Centred and scaled into [-1, 1] (the page fits the view to the points anyway; this keeps numbers short)."""
    xy = np.asarray(xy, dtype=np.float32)
    if not len(xy):
        return xy.reshape(0, 2)
    xy = xy - xy.mean(axis=0)
    scale = float(np.abs(xy).max())
    return xy / scale if scale > 0 else xy
