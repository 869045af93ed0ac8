"""The dashboards: the accuracy page from saved eval/metrics files and committed run summaries (seeds folded into
mean ± std), the embedding map (PCA, then t-SNE)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.dashboards import ROC_POINTS, EmbeddingMaps
from app.services.matching import MatchService
from index.storage import IndexDir
from model.config import TrainConfig
from model.run import RunDir
from model.run_summary import summarise_run, write_summary


def _eval(knn1: float, confusions: list[dict] | None = None, roc_points: int = 500) -> dict:
    fpr = np.linspace(0, 1, roc_points) ** 2
    return {
        "run": "x", "classes": 4, "train_images": 16, "test_images": 4, "knn1_acc": knn1, "knn1_acc_per_class": knn1 - 0.05,
        "ncm_acc": knn1 - 0.01, "map_at_r": knn1 / 2, "p_at_1": knn1, "lfw_view2_acc": 0.81, "lfw_view2_std": 0.012,
        "lfw_view2_auc": 0.88, "lfw_view2_roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()},
        "knn1_confusions": confusions or [], "epochs": 3, "best_epoch": 2, "train_minutes": 1.5, "knn5_acc": float("nan"),
    }


def _metrics(run: Path, loss0: float) -> None:
    lines = [{"epoch": e, "loss": loss0 / e, "val_knn1_acc": 0.5 + 0.1 * e, "val_map_at_r": 0.2 + 0.05 * e, "lr": 1e-3} for e in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.fixture
def world(index_world, app_index: Path, tmp_path: Path):
    """A private copy of the fake index whose manifest names a private copy of its run, now evaluated, and two
    comparison runs under runs/compare."""
    _, _, run = index_world
    served = tmp_path / "served-run"
    shutil.copytree(run.path, served)
    index_dir = tmp_path / "index"
    shutil.copytree(app_index, index_dir)
    manifest_file = IndexDir(index_dir).current() / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["model_run"] = str(served)
    manifest_file.write_text(json.dumps(manifest))
    confusions = [{"true": "Ada_Lovelace", "predicted": "Alan_Turing", "count": 2}, {"true": "Nobody_Known", "predicted": "Grace_Hopper", "count": 1}]
    (served / "eval.json").write_text(json.dumps(_eval(0.937, confusions)))
    _metrics(served, 0.9)
    compare = tmp_path / "runs" / "compare"
    for name, loss, knn1 in (("lfw4-triplet-d16", "triplet", 0.75), ("lfw4-cosface-d16", "cosface", 0.85)):
        other = RunDir(compare / name)
        other.write_config(TrainConfig(dataset="lfw", loss=loss, backbone="small_cnn", pretrained=False, dim=16, image_size=32, min_images=4))
        (other.path / "eval.json").write_text(json.dumps(_eval(knn1)))
        _metrics(other.path, 20.0 if loss == "cosface" else 0.5)
    (compare / "not-evaluated").mkdir()  # no eval.json: left out
    return served, index_dir


@pytest.fixture
def dash(world, app_settings, tmp_path: Path):
    served, index_dir = world
    settings = app_settings.model_copy(update={"index_dir": index_dir, "summaries_dir": tmp_path / "summaries"})
    service = MatchService(index_dir)
    service._detector = object()  # no /match here: no face detector needed
    service.load()
    with TestClient(create_app(settings, match_service=service)) as client:
        yield client


def test_the_accuracy_page_renders_from_the_saved_files(dash: TestClient, world) -> None:
    page = dash.get("/dashboard/accuracy")
    assert page.status_code == 200, page.text
    text = page.text
    assert "served-run" in text and "served</span>" in text
    assert "93.7" in text and "81.0" in text and "± 1.2" in text  # 1-NN accuracy, View 2 with its std
    assert "triplet semi-hard, dim 16" in text and "cosface, dim 16" in text and "not-evaluated" not in text
    assert 'id="roc-chart"' in text and "dashboard_plot.js" in text
    assert 'id="per-class"' in text and "88.7" in text  # the per-class summary (no per-class breakdown in these files)
    assert "<strong>93.7</strong>" in text  # the best 1-NN accuracy of the task, in bold
    assert "NaN" not in text


def test_the_accuracy_data(dash: TestClient) -> None:
    data = dash.get("/dashboard/accuracy/data").json()
    served = data["served"]
    assert served["name"] == "served-run" and served["metrics"]["knn1_acc"] == pytest.approx(0.937)
    assert "knn5_acc" not in served["metrics"] or served["metrics"]["knn5_acc"] is None
    assert 2 < len(served["roc"]["fpr"]) <= ROC_POINTS and served["roc"]["fpr"][0] == 0 and served["roc"]["tpr"][-1] == 1
    assert [m["epoch"] for m in served["curves"]] == [1, 2, 3] and served["curves"][0]["loss"] == pytest.approx(0.9)
    first, unknown = served["confusions"]
    assert first["true_image"].startswith("/gallery/") and first["predicted_image"].startswith("/gallery/")
    assert unknown["true_image"] is None and unknown["predicted_image"]
    image = dash.get(first["true_image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert sorted(r["name"] for r in data["runs"]) == ["lfw4-cosface-d16", "lfw4-triplet-d16"]
    assert {c["key"] for c in data["columns"]} >= {"knn1_acc", "map_at_r", "lfw_view2_acc"}


def test_the_curves_keep_the_last_line_of_an_epoch_trained_twice(dash: TestClient, world) -> None:
    served, _ = world
    lines = [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.8}, {"epoch": 2, "loss": 0.45}, {"epoch": 3, "loss": 0.3}]
    (served / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))  # a resumed run
    curves = dash.get("/dashboard/accuracy/data").json()["served"]["curves"]
    assert [(m["epoch"], m["loss"]) for m in curves] == [(1, 0.9), (2, 0.45), (3, 0.3)]


def test_the_accuracy_data_is_cached_until_a_file_changes(dash: TestClient, world) -> None:
    served, _ = world
    dash.get("/dashboard/accuracy/data")
    dashboard = dash.app.state.accuracy_dashboard
    once = dashboard.run_data(served)
    assert dashboard.run_data(served) is once  # cached
    values = json.loads((served / "eval.json").read_text())
    values["knn1_acc"] = 0.5
    (served / "eval.json").write_text(json.dumps(values))
    stamp = (served / "eval.json").stat().st_mtime + 5
    os.utime(served / "eval.json", (stamp, stamp))
    assert dash.get("/dashboard/accuracy/data").json()["served"]["metrics"]["knn1_acc"] == 0.5


def test_a_served_model_without_an_evaluation_says_how_to_get_one(dash: TestClient, world) -> None:
    served, _ = world
    (served / "eval.json").unlink()
    data = dash.get("/dashboard/accuracy/data").json()
    assert data["served"] is None and "doppelganger evaluate" in data["served_missing"]
    page = dash.get("/dashboard/accuracy")
    assert page.status_code == 200 and "doppelganger evaluate" in page.text


# ------------------------------------------------------------------------------------------ committed summaries


def _summary(tmp_path: Path, config: TrainConfig, knn1: float, name: str | None = None, report: str = "docs/results.md",
             grid: str | None = "grids/comparison.toml") -> Path:
    """A run evaluated, summarised into tmp_path/summaries, then gone: only its summary is left (a fresh clone)."""
    run = RunDir(tmp_path / "gone" / (name or config.default_run_name()))
    run.write_config(config)
    values = _eval(knn1, [{"true": "Ada_Lovelace", "predicted": "Kurt_Goedel", "count": 1 + round(10 * knn1) % 3}])
    values["lfw_view2_acc"] = knn1 - 0.1
    run.eval_json.write_text(json.dumps(values))
    _metrics(run.path, knn1)
    path = write_summary(summarise_run(run.path, report=report, grid=grid), tmp_path / "summaries")
    shutil.rmtree(run.path)
    return path


SMALL = {"dataset": "lfw", "backbone": "small_cnn", "pretrained": False, "image_size": 32, "min_images": 4}


def test_a_committed_summary_is_shown_without_its_run_directory(dash: TestClient, tmp_path: Path) -> None:
    path = _summary(tmp_path, TrainConfig(loss="triplet", miner="batch-hard", dim=16, **SMALL), 0.66, name="lfw4-batch-hard-d16")
    data = dash.get("/dashboard/accuracy/data").json()
    assert sorted(r["name"] for r in data["runs"]) == ["lfw4-batch-hard-d16", "lfw4-cosface-d16", "lfw4-triplet-d16"]
    run = next(r for r in data["runs"] if r["name"] == "lfw4-batch-hard-d16")
    assert (run["source"], run["path"], run["report"], run["grid"]) == ("summary", str(path), "docs/results.md", "grids/comparison.toml")
    assert run["metrics"]["knn1_acc"] == pytest.approx(0.66) and run["label"] == "triplet batch-hard, dim 16"
    assert 2 < len(run["roc"]["fpr"]) <= ROC_POINTS and [m["epoch"] for m in run["curves"]] == [1, 2, 3]
    assert run["confusions"][0]["true"] == "Ada_Lovelace" and run["confusions"][0]["true_image"].startswith("/gallery/")
    assert data["summaries_dir"] == str(tmp_path / "summaries") and data["skipped_summaries"] == []
    live = next(r for r in data["runs"] if r["name"] == "lfw4-cosface-d16")
    assert live["source"] == "run"
    page = dash.get("/dashboard/accuracy")
    assert page.status_code == 200 and "lfw4-batch-hard-d16" in page.text and ">summary</span>" in page.text
    assert "from <code>docs/results.md</code>" in page.text


def test_a_live_run_wins_over_its_summary(dash: TestClient, world, tmp_path: Path) -> None:
    _summary(tmp_path, TrainConfig(loss="cosface", dim=16, **SMALL), 0.11, name="lfw4-cosface-d16")
    _summary(tmp_path, TrainConfig(dim=16, **SMALL), 0.22, name="served-run")  # the served model's own summary
    data = dash.get("/dashboard/accuracy/data").json()
    assert sorted(r["name"] for r in data["runs"]) == ["lfw4-cosface-d16", "lfw4-triplet-d16"]
    cosface = next(r for r in data["runs"] if r["name"] == "lfw4-cosface-d16")
    assert cosface["source"] == "run" and cosface["metrics"]["knn1_acc"] == pytest.approx(0.85)
    assert data["served"]["source"] == "run" and data["served"]["metrics"]["knn1_acc"] == pytest.approx(0.937)
    # Without the run directory, its summary takes its place.
    shutil.rmtree(tmp_path / "runs" / "compare" / "lfw4-cosface-d16")
    cosface = next(r for r in dash.get("/dashboard/accuracy/data").json()["runs"] if r["name"] == "lfw4-cosface-d16")
    assert cosface["source"] == "summary" and cosface["metrics"]["knn1_acc"] == pytest.approx(0.11)


def test_runs_that_differ_only_in_seed_are_one_row_with_mean_and_std(dash: TestClient, tmp_path: Path) -> None:
    seeds = {0: 0.80, 1: 0.82, 2: 0.87}
    configs = {seed: TrainConfig(loss="triplet", miner="semi-hard", dim=32, seed=seed, **SMALL) for seed in seeds}
    for seed in (1, 2):
        _summary(tmp_path, configs[seed], seeds[seed])
    live = RunDir(tmp_path / "runs" / "compare" / configs[0].default_run_name())  # one seed trained here: live
    live.write_config(configs[0])
    live.eval_json.write_text(json.dumps(_eval(seeds[0], [{"true": "Ada_Lovelace", "predicted": "Kurt_Goedel", "count": 2}]) | {"lfw_view2_acc": 0.70}))
    _metrics(live.path, 0.80)
    alone = TrainConfig(loss="triplet", miner="semi-hard", dim=8, seed=1, **SMALL)  # other settings: a row of its own
    _summary(tmp_path, alone, 0.5)

    data = dash.get("/dashboard/accuracy/data").json()
    base = configs[0].default_run_name().removesuffix("-s0")
    names = [r["name"] for r in data["runs"]]
    assert sorted(names) == sorted([f"{base}-s*", alone.default_run_name(), "lfw4-cosface-d16", "lfw4-triplet-d16"])
    row = next(r for r in data["runs"] if r["name"] == f"{base}-s*")
    values = list(seeds.values())
    mean = sum(values) / 3
    std = (sum((v - mean) ** 2 for v in values) / 2) ** 0.5
    assert row["metrics"]["knn1_acc"] == pytest.approx(mean) and row["spread"]["knn1_acc"] == pytest.approx(std)
    assert row["metrics"]["lfw_view2_acc"] == pytest.approx(sum(v - 0.1 for v in values) / 3)
    assert row["label"] == "triplet semi-hard, dim 32 · mean of 3 seeds"
    assert [(s["seed"], s["source"]) for s in row["seeds"]] == [(0, "run"), (1, "summary"), (2, "summary")]
    assert [s["metrics"]["knn1_acc"] for s in row["seeds"]] == pytest.approx(values)
    assert row["by_seed"]["knn1_acc"] == [{"seed": s, "value": pytest.approx(v)} for s, v in seeds.items()]
    assert [m["epoch"] for m in row["curves"]] == [1, 2, 3] and row["curves"][0]["loss"] == pytest.approx(mean)
    assert 2 < len(row["roc"]["fpr"]) <= ROC_POINTS and row["roc"]["tpr"][-1] == pytest.approx(1)
    assert row["confusions"][0]["count"] == 2 + sum(1 + round(10 * v) % 3 for v in values[1:])
    other = next(r for r in data["runs"] if r["name"] == alone.default_run_name())
    assert "seeds" not in other and other["metrics"]["knn1_acc"] == pytest.approx(0.5)

    page = dash.get("/dashboard/accuracy").text
    assert f"{mean * 100:.1f}" in page and f"± {std * 100:.1f}" in page and "3 seeds</summary>" in page
    assert f"seed 0 {seeds[0] * 100:.1f}, seed 1 {seeds[1] * 100:.1f}, seed 2 {seeds[2] * 100:.1f}" in page  # the tooltip


def test_a_malformed_summary_is_skipped_with_a_warning(dash: TestClient, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = _summary(tmp_path, TrainConfig(loss="triplet", miner="batch-all", dim=16, **SMALL), 0.7, name="lfw4-batch-all-d16")
    folder = good.parent
    (folder / "broken.json").write_text('{"format": 1, "name": "broken", ')
    summary = json.loads(good.read_text())
    (folder / "renamed.json").write_text(json.dumps(summary))  # its name is not its file's
    for name, change in (("words", {"knn1_acc": "very good"}), ("confused", {"knn1_confusions": {"a": "b"}}),
                         ("roc", {"lfw_view2_roc": [0, 1]}), ("curve", None)):
        bad = {**summary, "name": name, "eval": {**summary["eval"], **(change or {})}}
        if change is None:
            bad["metrics"] = [{"epoch": 1, "loss": "high"}]
        (folder / f"{name}.json").write_text(json.dumps(bad))
    (folder / "array.json").write_text("[1, 2]")
    with caplog.at_level("WARNING", logger="doppelganger"):
        response = dash.get("/dashboard/accuracy/data")
    assert response.status_code == 200
    data = response.json()
    assert "lfw4-batch-all-d16" in [r["name"] for r in data["runs"]]
    skipped = {Path(s["file"]).name: s["error"] for s in data["skipped_summaries"]}
    assert sorted(skipped) == ["array.json", "broken.json", "confused.json", "curve.json", "renamed.json", "roc.json", "words.json"]
    assert "not JSON" in skipped["broken.json"] and "not its file's name" in skipped["renamed.json"]
    assert "knn1_acc" in skipped["words.json"] and "loss of epoch 1" in skipped["curve.json"]
    assert sum("skipping the run summary" in r.getMessage() for r in caplog.records) == 7
    page = dash.get("/dashboard/accuracy")
    assert page.status_code == 200 and page.text.count('class="alert alert-warn small skipped-summary"') == 7


def test_the_embedding_map_pca_then_tsne(dash: TestClient, world) -> None:
    _, index_dir = world
    page = dash.get("/dashboard/embedding")
    assert page.status_code == 200 and '<canvas id="map"' in page.text and "dashboard_embedding.js" in page.text

    health = dash.get("/health").json()["index"]
    body = dash.get("/dashboard/embedding/data", params={"method": "pca"}).json()
    assert body["method"] == "pca" and body["version"] == health["version"]
    assert body["count"] == len(body["points"]) == 72
    assert len(body["people"]) == 12
    ids = sorted(p[2] for p in body["points"])
    assert ids == list(range(72))
    assert all(-1.0 <= p[0] <= 1.0 and -1.0 <= p[1] <= 1.0 for p in body["points"])
    assert {body["people"][p[3]] for p in body["points"]} == set(body["people"])

    maps: EmbeddingMaps = dash.app.state.embedding_maps
    assert maps.wait_tsne(body["version"], timeout=60)
    assert dash.get("/dashboard/embedding/status").json() == {"version": body["version"], "count": 72, "tsne": "ready"}
    tsne = dash.get("/dashboard/embedding/data", params={"method": "tsne"}).json()
    assert tsne["method"] == "tsne" and tsne["tsne"] == "ready" and len(tsne["points"]) == 72
    assert [p[2] for p in tsne["points"]] == [p[2] for p in body["points"]]
    assert tsne["points"] != body["points"]
    saved = index_dir / "maps" / f"{body['version']}-tsne.json"
    assert saved.is_file()

    # Another process (a restart) reads the saved map instead of computing it again.
    fresh = EmbeddingMaps(dash.app.state.settings, dash.app.state.match_service)
    fresh.start_tsne = lambda index: pytest.fail("t-SNE computed again")  # type: ignore[method-assign]
    again = fresh.data("tsne")
    assert again["method"] == "tsne" and [p[:2] for p in again["points"]] == [p[:2] for p in tsne["points"]]


def test_tsne_asked_before_it_is_ready_serves_pca(dash: TestClient, monkeypatch) -> None:
    import app.services.dashboards as dashboards

    release = __import__("threading").Event()
    real = dashboards.project_2d

    def slow(vectors, method, **kwargs):
        if method == "tsne":
            assert release.wait(30)
        return real(vectors, method, **kwargs)

    monkeypatch.setattr(dashboards, "project_2d", slow)
    body = dash.get("/dashboard/embedding/data", params={"method": "tsne"}).json()
    assert body["method"] == "pca" and body["requested"] == "tsne" and body["tsne"] == "computing"
    assert len(body["points"]) == 72
    release.set()
    assert dash.app.state.embedding_maps.wait_tsne(body["version"], timeout=60)
    assert dash.get("/dashboard/embedding/data", params={"method": "tsne"}).json()["method"] == "tsne"


def test_the_embedding_map_without_an_index_is_503(app_settings, tmp_path: Path) -> None:
    settings = app_settings.model_copy(update={"index_dir": tmp_path / "empty"})
    with TestClient(create_app(settings, match_service=MatchService(tmp_path / "empty"), load=False)) as client:
        assert client.get("/dashboard/embedding/data").status_code == 503
        assert client.get("/dashboard/embedding").status_code == 200
        page = client.get("/dashboard/accuracy")
        assert page.status_code == 200
