"""The data of the two dashboards, built from saved files only and cached.

- Accuracy (``AccuracyDashboard``): the served model's evaluation (the run named by the live index's manifest)
  beside the comparison runs (``settings.compare_dir/*/eval.json``), read with ``model.compare_report``'s
  helpers: metrics, LFW View 2 ROC, per-epoch curves (``metrics.jsonl``), the worst 1-NN confusions with a
  gallery image of each person. Nothing is recomputed per request: a run's part is cached until its files'
  modification times change.
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
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from app.services.matching import MatchService
from app.services.served_index import live_manifest
from app.settings import AppSettings
from index.storage import GalleryIndex, IndexDir
from model.grid import Run
from model.compare_report import COLUMNS, METRIC_NAMES, Result, group_by_task, run_label, task_label, varying_keys
from model.run import RunDir
from model.visualization.projection import project_2d

log = logging.getLogger("doppelganger")

ROC_POINTS = 300
"""ROC curves are thinned to at most this many points (the eval files hold about 1,600)."""
EXTRA_METRICS = ("lfw_view2_std", "lfw_view2_auc", "r_precision", "knn5_acc_per_class", "lfw_devtest_auc")
PER_CLASS_KEYS = ("knn1_per_class", "knn1_acc_by_class", "per_class_accuracy")
"""Keys an eval.json may hold with accuracy per class ({class: accuracy}); shown when present."""
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


def thin(fpr: list[float], tpr: list[float], limit: int = ROC_POINTS) -> tuple[list[float], list[float]]:
    """At most ``limit`` points of a curve, evenly spread over its points, the ends kept."""
    n = min(len(fpr), len(tpr))
    if n <= limit:
        return [float(v) for v in fpr[:n]], [float(v) for v in tpr[:n]]
    keep = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return [round(float(fpr[i]), 5) for i in keep], [round(float(tpr[i]), 5) for i in keep]


class AccuracyDashboard:
    """The accuracy dashboard's data, cached per run and file modification time."""

    def __init__(self, settings: AppSettings, match_service: MatchService) -> None:
        self.settings = settings
        self.match_service = match_service
        self._runs: dict[str, tuple[tuple, dict[str, Any] | None]] = {}
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
            data = None if result is None else self._summarise(result, extra)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("cannot read run %s for the dashboard: %s", path, error)
            data = {"name": path.name, "path": str(path), "error": f"cannot read this run: {error}"}
        with self._lock:
            self._runs[str(path)] = (key, data)
        return data

    def _summarise(self, result: Result, extra: tuple[str, ...]) -> dict[str, Any]:
        values = result.result
        config = result.config
        metrics = {key: _clean(values.get(key)) for key, _ in COLUMNS if values.get(key) is not None}
        metrics |= {key: _clean(values[key]) for key in EXTRA_METRICS if values.get(key) is not None}
        roc = values.get("lfw_view2_roc") or {}
        fpr, tpr = thin(roc.get("fpr", []), roc.get("tpr", []))
        per_class = next((values[k] for k in PER_CLASS_KEYS if isinstance(values.get(k), dict)), None)
        worst = sorted(((str(c), float(a)) for c, a in per_class.items()), key=lambda item: item[1]) if per_class else []
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
        compare_paths = self.compare_runs()
        # The label of a comparison run names the settings that vary within its task, as the report does.
        results = []
        for path in compare_paths:
            try:
                result = self._result(path)
            except (OSError, ValueError, KeyError, TypeError):
                result = None
            if result is not None:
                results.append(result)
        extra_of = {}
        ordered: list[Path] = []
        for group in group_by_task(results).values():
            extra = varying_keys(group)
            for r in group:
                extra_of[str(r.run.path)] = extra
                ordered.append(Path(r.run.path))
        # The served run is shown once, as the served model, even when it is one of the comparison runs.
        ordered = [p for p in ordered if p.resolve() != served_path.resolve()]
        # Copies: the cached parts are shared between requests, and the images and bold marks are per request.
        runs = [dict(d) for d in (self.run_data(p, extra_of.get(str(p), ())) for p in ordered) if d is not None]
        served = self.run_data(served_path, extra_of.get(str(served_path), ()))
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
            "columns": [{"key": key, "label": label, "name": METRIC_NAMES.get(key, label)} for key, label in present],
        }


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
