"""``doppelganger compare``: grid expansion, the dry run, the report's computed sentences, and the tiny grid
``grids/smoke.toml`` trained, evaluated and reported on the real LFW (skipped without the data)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.cli import main
from model.grid import expand_grid, load_grid
from model.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "grids" / "smoke.toml"
COMPARISON = ROOT / "grids" / "comparison.toml"
SMOKE_RUNS = ("lfw20-contrastive-small_cnn-d4-px32-e1-s0", "lfw20-triplet-batch-hard-small_cnn-d4-px32-e1-s0")


# ------------------------------------------------------------------------------------------ grid expansion


def test_each_experiment_expands_to_the_product_of_its_lists_over_the_defaults() -> None:
    grid = {
        "defaults": {"backbone": "small_cnn", "dim": 8, "lr": 1},
        "experiment": [
            {"loss": "contrastive", "dim": [2, 64]},
            {"loss": "triplet", "miner": ["random", "batch-hard"], "dataset": ["lfw", "tt100k"]},
        ],
    }
    configs = expand_grid(grid)
    assert [c.default_run_name() for c in configs] == [
        "lfw20-contrastive-small_cnn-d2-lr1-s0",
        "lfw20-contrastive-small_cnn-d64-lr1-s0",
        "lfw20-triplet-random-small_cnn-d8-lr1-s0",
        "tt100k20-triplet-random-small_cnn-d8-lr1-s0",
        "lfw20-triplet-batch-hard-small_cnn-d8-lr1-s0",
        "tt100k20-triplet-batch-hard-small_cnn-d8-lr1-s0",
    ]
    assert all(c.backbone == "small_cnn" and c.epochs == 12 for c in configs)
    assert all(c.lr == 1.0 and isinstance(c.lr, float) for c in configs)  # TOML's 1 for a float setting


def test_the_shipped_grids() -> None:
    configs = load_grid(COMPARISON)
    assert len(configs) == 43 == len({c.default_run_name() for c in configs})  # 32 + 8 closed-set runs, 3 open-set
    for c in configs:
        assert (c.backbone, c.epochs, c.seed, c.image_size, c.pairs_per_epoch, c.batch_size) == (
            "mobilenet_v2", 12, 0, 64, 2048, 64)
    open_set = [c for c in configs if c.protocol == "devtrain"]
    assert {(c.dataset, c.min_images, c.dim, c.loss) for c in open_set} == {
        ("lfw", 2, 64, loss) for loss in ("contrastive", "triplet", "cosface")}
    assert all(c.miner == "semi-hard" for c in open_set if c.loss == "triplet")
    configs = [c for c in configs if c.protocol == "closed"]
    assert all(c.min_images == 20 for c in configs)
    methods = {(c.loss, c.miner if c.loss == "triplet" else None) for c in configs}
    assert methods == {("contrastive", None), ("cosface", None)} | {
        ("triplet", m) for m in ("random", "batch-all", "batch-hard", "semi-hard", "multi-similarity")}
    assert {(c.dataset, c.dim) for c in configs} == {(d, n) for d in ("lfw", "tt100k") for n in (2, 16, 32, 64)}
    # Dimensions 16 and 32 for the best two objectives at dimension 64 only.
    assert {(c.loss, c.miner if c.loss == "triplet" else None) for c in configs if c.dim in (16, 32)} == {
        ("cosface", None), ("triplet", "semi-hard")}
    assert len([c for c in configs if c.dim in (16, 32)]) == 8
    assert [c.default_run_name() for c in load_grid(SMOKE)] == list(SMOKE_RUNS)


@pytest.mark.parametrize("grid, message", [
    ({"experiment": [{"loss": "cosface", "scale": [16.0, 32.0]}]}, "lfw20-cosface-mobilenet_v2-d64-s0"),
    ({"experiment": [{"weight_decay": 0.001}, {"weight_decay": 0.01}]}, r"experiments 1, 2"),
], ids=["a list of a setting outside the name", "settings outside the name"])
def test_runs_that_would_share_a_name_are_rejected(grid: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="more than once") as error:
        expand_grid(grid)
    assert message in str(error.value)


@pytest.mark.parametrize("grid, words", [
    ({"defaults": {"dimm": 2}, "experiment": [{}]}, ["[defaults]", "'dimm'"]),
    ({"experiment": [{"loss": "triplet"}, {"los": "cosface"}]}, ["experiment 2", "'los'"]),
    ({"default": {}, "experiment": [{}]}, ["'default'"]),
    ({"experiment": [{"dim": ["2"]}]}, ["experiment 1", "dim = '2'", "int"]),
    ({"experiment": [{"loss": ["triplet", "arcface"]}]}, ["experiment 1 (loss arcface)", "'arcface'"]),
    ({"experiment": [{"dim": []}]}, ["dim is an empty list"]),
    ({"defaults": {"dim": 2}}, ["no [[experiment]]"]),
], ids=["unknown default", "unknown experiment key", "unknown table", "wrong type", "bad choice", "empty list", "no experiment"])
def test_bad_grids_name_what_is_wrong(grid: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        expand_grid(grid)
    for word in words:
        assert word in str(error.value)


def test_a_bad_grid_is_a_one_line_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[experiment]]\nloss = "triplet"\nminer = "hardest"\n')
    assert main(["compare", "--grid", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "doppelganger compare: error:" in err and "'hardest'" in err and "Traceback" not in err
    assert main(["compare", "--grid", str(tmp_path / "missing.toml"), "--dry-run"]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_compare_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--grid", "--only", "--dry-run", "--report", "--report-only", "--no-pictures", "--notes", "--runs-dir"):
        assert flag in out


# ------------------------------------------------------------------------------------------ fabricated runs


def fake_run(runs_dir: Path, config: TrainConfig, result: dict[str, Any] | None = None, epochs: int | None = None,
             train_seconds: float = 30.0) -> Path:
    """A run directory as train (and evaluate, when ``result``) would leave it, with made-up numbers."""
    path = runs_dir / config.default_run_name()
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config.to_dict()))
    done = config.epochs if epochs is None else epochs
    records = [{"epoch": e, "loss": 1.0 / e, "val_knn1_acc": 0.1 * e, "val_map_at_r": 0.05 * e, "pos_dist": 0.5,
                "neg_dist": 1.0, "active_fraction": 0.5, "spread": 0.2, "train_seconds": train_seconds}
               for e in range(1, done + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if result is not None:
        (path / "eval.json").write_text(json.dumps({
            "run": str(path), "checkpoint": "best", "config": config.to_dict(), "train_images": 100,
            "test_images": 50, "classes": 62, "epochs": done, "train_minutes": done * train_seconds / 60,
            "best_epoch": done, **result,
        }))
    return path


def test_dry_run_lists_each_run_with_its_status_and_estimates_the_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[defaults]\nbackbone = "small_cnn"\nepochs = 4\n\n[[experiment]]\nloss = "contrastive"\n'
                    'dim = [2, 16, 64]\n')
    done, partial, todo = load_grid(grid)
    runs = tmp_path / "runs"
    fake_run(runs, done, {"knn1_acc": 0.5})
    fake_run(runs, partial, epochs=1)
    assert main(["compare", "--grid", str(grid), "--runs-dir", str(runs), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"[done] {done.default_run_name()}  (4/4 epochs, 2.0 min of training)" in out
    assert f"[partial] {partial.default_run_name()}  (1/4 epochs)" in out
    assert f"[to do] {todo.default_run_name()}  (0/4 epochs)" in out
    assert "1 done, 1 partial, 1 to do." in out
    assert "about 4 min" in out  # 3 + 4 epochs left at the measured 30 s each
    assert not (runs / todo.default_run_name()).exists()

    assert main(["compare", "--grid", str(grid), "--runs-dir", str(runs), "--dry-run", "--only", "*-d64-*"]) == 0
    out = capsys.readouterr().out
    assert "1 run of 3" in out and todo.default_run_name() in out and done.default_run_name() not in out
    assert main(["compare", "--grid", str(grid), "--runs-dir", str(runs), "--only", "nothing*"]) == 2
    assert "no run of the grid matches --only nothing*" in capsys.readouterr().err


def _resumed_metrics(path: Path) -> None:
    """metrics.jsonl as a run resumed after a crash leaves it: epoch 2 was written, the crash came before its
    checkpoint, and the resumed run trained epoch 2 again and appended a second line for it."""
    records = [{"epoch": 1, "loss": 0.9, "train_seconds": 30.0}, {"epoch": 2, "loss": 0.8, "train_seconds": 30.0},
               {"epoch": 2, "loss": 0.7, "train_seconds": 31.0}, {"epoch": 3, "loss": 0.6, "train_seconds": 30.0}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_after_a_resume_the_last_line_of_an_epoch_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from model.grid import Run, plan_runs

    grid = tmp_path / "grid.toml"
    grid.write_text('[defaults]\nbackbone = "small_cnn"\nepochs = 4\n\n[[experiment]]\nloss = "contrastive"\n')
    [config] = load_grid(grid)
    path = fake_run(tmp_path / "runs", config, epochs=0)
    _resumed_metrics(path)
    [run] = plan_runs([config], tmp_path / "runs")
    assert isinstance(run, Run) and run.dir.metrics_file == path / "metrics.jsonl"
    assert [(m["epoch"], m["loss"]) for m in run.metrics()] == [(1, 0.9), (2, 0.7), (3, 0.6)]
    assert main(["compare", "--grid", str(grid), "--runs-dir", str(tmp_path / "runs"), "--dry-run"]) == 0
    assert "(3/4 epochs)" in capsys.readouterr().out  # not 4/4: the repeated epoch is counted once


def test_run_dir_reads_one_record_per_epoch(tmp_path: Path) -> None:
    from model.run import RunDir

    tmp_path.joinpath("run").mkdir()
    _resumed_metrics(tmp_path / "run")
    assert [m["loss"] for m in RunDir(tmp_path / "run").metrics()] == [0.9, 0.7, 0.6]


def test_a_run_saved_with_other_settings_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [config] = load_grid(SMOKE)[:1]
    changed = TrainConfig.from_dict({**config.to_dict(), "weight_decay": 0.5})
    fake_run(tmp_path / "runs", changed, epochs=0)
    assert main(["compare", "--grid", str(SMOKE), "--runs-dir", str(tmp_path / "runs"), "--dry-run"]) == 0
    assert "differ from the grid's: weight_decay 0.5 != 0.0001" in capsys.readouterr().out
    args = ["compare", "--grid", str(SMOKE), "--runs-dir", str(tmp_path / "runs"), "--report", str(tmp_path / "r.md")]
    assert main(args) == 2
    assert "other settings than the grid's" in capsys.readouterr().err


def test_a_setting_the_loss_ignores_is_refused_by_the_grid() -> None:
    with pytest.raises(ValueError, match=r"experiment 1 \(miner random\): --miner applies to --loss triplet only"):
        expand_grid({"experiment": [{"loss": "contrastive", "miner": ["random", "batch-hard"]}]})


def test_a_run_saved_before_a_setting_existed_has_its_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [config] = load_grid(SMOKE)[:1]
    path = fake_run(tmp_path / "runs", config, epochs=0)
    saved = json.loads((path / "config.json").read_text())
    del saved["hinge"]  # contrastive runs saved before --hinge existed trained with the squared hinge
    (path / "config.json").write_text(json.dumps(saved))
    assert main(["compare", "--grid", str(SMOKE), "--runs-dir", str(tmp_path / "runs"), "--dry-run"]) == 0
    assert "differ from the grid's" not in capsys.readouterr().out


def test_report_sentences_are_computed_from_the_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[defaults]\nbackbone = "small_cnn"\nepochs = 2\n\n'
                    '[[experiment]]\nloss = "triplet"\nminer = ["random", "batch-hard"]\ndim = [2, 64]\n\n'
                    '[[experiment]]\nloss = "contrastive"\ndim = [2, 16, 64]\n\n'
                    '[[experiment]]\nloss = "cosface"\ndim = 64\n')
    runs = tmp_path / "runs"
    knn1 = {("random", 2): 0.30, ("random", 64): 0.50, ("batch-hard", 2): 0.35, ("batch-hard", 64): 0.60,
            ("contrastive", 2): 0.20, ("contrastive", 16): 0.35, ("contrastive", 64): 0.40}
    confusions = [{"true": f"Person_{i}", "predicted": "George_W_Bush", "count": 9 - i} for i in range(7)]
    for config in load_grid(grid):
        key = (config.miner if config.loss == "triplet" else config.loss, config.dim)
        if config.loss == "cosface":
            fake_run(runs, config, epochs=1)  # partial: left out of the report
            continue
        result = {"knn1_acc": knn1[key], "map_at_r": knn1[key] / 2, "lfw_view2_acc": 0.7, "lfw_view2_std": 0.02}
        if key == ("random", 2):
            result["baselines"] = {"raw_pixels": {"knn1_acc": 0.25, "map_at_r": 0.1},
                                   "pca_whitened": {"knn1_acc": 0.45, "map_at_r": 0.2}}
        if key == ("batch-hard", 64):
            result["knn1_confusions"] = confusions
        fake_run(runs, config, result)
    report = tmp_path / "docs" / "results.md"
    notes = tmp_path / "docs" / "results-notes.md"
    notes.parent.mkdir()
    notes.write_text("Batch-hard mining wins here because *hand-written* reasons.\n")

    assert main(["compare", "--grid", str(grid), "--runs-dir", str(runs), "--report", str(report),
                 "--report-only", "--no-pictures"]) == 0
    text = report.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| loss")]
    assert len(rows) == 7 + 2
    assert "| triplet | batch-hard | 64 | **60.0** | **30.0** | **70.0 ± 2.0** | 1.0 | 2/2 |" in rows
    assert "| baseline: PCA-whitened |  |  | 45.0 | 20.0 |  |  |  |" in rows
    assert "Not evaluated yet (1): `lfw20-cosface-small_cnn-d64-e2-s0`" in text
    assert "- 1-NN accuracy: triplet batch-hard, dim 64, 60.0% (+10.0 points over the next best, 50.0%); " \
           "baselines: raw pixels 25.0%, PCA-whitened 45.0%." in text
    assert "2 of 7 runs beat the strongest baseline (PCA-whitened, 45.0%) on 1-NN accuracy." in text
    assert "- dim 2, batch-hard: 35.0%, +5.0 points against random triplets (30.0%)." in text
    assert "- dim 64, batch-hard: 60.0%, +10.0 points against random triplets (50.0%)." in text
    assert "- contrastive: dim 64 40.0%, dim 2 20.0%, +20.0 points for dim 64." in text
    assert "- contrastive: dim 2 20.0%, dim 16 35.0%, dim 64 40.0%." in text
    assert "- triplet random: dim 2" not in text  # two dimensions only: the sentence above says it all
    assert "- LFW View 2 verification accuracy: all 7 runs tie at 70.0%." in text
    assert "- triplet random: dim 64 50.0%, dim 2 30.0%, +20.0 points for dim 64." in text
    assert "`lfw20-triplet-batch-hard-small_cnn-d64-e2-s0` (1-NN 60.0%)" in text
    assert "- Person 0 taken for George W Bush: 9 images" in text and "- Person 4 taken for" in text
    assert "Person 5" not in text  # the top five only
    assert "Batch-hard mining wins here because *hand-written* reasons." in text
    assert "doppelganger compare --grid" in text and f"{os.cpu_count()} CPU cores" in text
    assert "Total training time: 7 min over 7 runs" in text
    for name in ("curves-lfw20-d2.png", "curves-lfw20-d64.png", "diagnostics-lfw20-d2.png", "diagnostics-lfw20-d64.png"):
        assert f"](results/{name})" in text
        with Image.open(report.parent / "results" / name) as image:
            image.load()
            assert image.width > 500
    assert "run 1/" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ the real smoke grid


@pytest.fixture(scope="module")
def smoke(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """grids/smoke.toml trained, evaluated and reported once, on one thread."""
    root = tmp_path_factory.mktemp("compare")
    runs, report = root / "runs", root / "docs" / "results.md"
    args = ["compare", "--grid", str(SMOKE), "--runs-dir", str(runs), "--report", str(report), "--no-pictures"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "cpu_count", lambda: 1)  # training and evaluation use every core: one, here
        assert main(args) == 0
    return {"runs": runs, "report": report, "args": args}


def _snapshot(runs: Path) -> dict[str, Any]:
    return {name: ((runs / name / "metrics.jsonl").read_text(), (runs / name / "eval.json").stat().st_mtime_ns,
                   (runs / name / "checkpoints" / "last.pt").stat().st_mtime_ns) for name in SMOKE_RUNS}


def test_smoke_grid_report(smoke: dict[str, Any]) -> None:
    text = smoke["report"].read_text()
    assert text.count("| contrastive |  | 4 |") == 1 and text.count("| triplet | batch-hard | 4 |") == 1
    assert "| baseline: raw pixels |" in text and "| baseline: PCA-whitened |" in text
    assert "### LFW-62" in text and "View 2" in text and "2 of 2 runs evaluated" in text
    for name in ("curves-lfw20-d4.png", "diagnostics-lfw20-d4.png"):
        assert f"](results/{name})" in text
        with Image.open(smoke["report"].parent / "results" / name) as image:
            image.load()
            assert image.size[0] > 500 and image.size[1] > 200
    assert "## What the numbers show" in text
    assert "- 1-NN accuracy: " in text and "baselines: raw pixels" in text
    assert "beat the strongest baseline" in text
    assert "Every run of this task has dimension 4" in text
    assert "most frequent 1-NN confusions of the best run" in text and " taken for " in text
    assert "Total training time:" in text and "PyTorch" in text
    # the baselines were computed for the first run only: they do not depend on the model
    first, second = (json.loads((smoke["runs"] / name / "eval.json").read_text()) for name in SMOKE_RUNS)
    assert "baselines" in first and "baselines" not in second
    # and each run's summary, beside the report, is small
    for name in SMOKE_RUNS:
        summary = smoke["report"].parent / "results" / "runs" / f"{name}.json"
        assert summary.stat().st_size < 30_000 and json.loads(summary.read_text())["grid"] == str(SMOKE)


def test_smoke_grid_rerun_skips_finished_runs(smoke: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(smoke["runs"])
    assert main(smoke["args"]) == 0
    out = capsys.readouterr().out
    assert f"run 1/2 {SMOKE_RUNS[0]} (evaluated already: skipped)" in out
    assert f"run 2/2 {SMOKE_RUNS[1]} (evaluated already: skipped)" in out
    assert _snapshot(smoke["runs"]) == before
    assert main(["compare", "--grid", str(SMOKE), "--runs-dir", str(smoke["runs"]), "--dry-run"]) == 0
    assert "2 done, 0 partial, 0 to do." in capsys.readouterr().out


def test_smoke_grid_report_only_rebuilds_without_training(smoke: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(smoke["runs"])
    report = smoke["report"]
    report.unlink()
    for png in (report.parent / "results").glob("*.png"):
        png.unlink()
    notes = report.with_name("results-notes.md")
    notes.write_text("A note by hand: one epoch says little.\n")
    assert main([*smoke["args"], "--report-only"]) == 0
    assert "run 1/" not in capsys.readouterr().out
    text = report.read_text()
    assert text.count("| contrastive |  | 4 |") == 1 and "A note by hand: one epoch says little." in text
    assert (report.parent / "results" / "curves-lfw20-d4.png").exists()
    assert _snapshot(smoke["runs"]) == before


# ------------------------------------------------------------------------------------------ run summaries


def _full_result(knn1: float, roc_points: int = 1601) -> dict[str, Any]:
    """An eval.json's numbers as big as a real one's: View 2's ROC of 1,601 points, baselines with ROC curves of
    their own, ten confusions."""
    import numpy as np

    fpr = np.sort(np.random.default_rng(0).random(roc_points))
    fpr[0], fpr[-1] = 0.0, 1.0
    roc = {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()}
    metrics = {"knn1_acc": knn1, "knn1_acc_per_class": knn1 - 0.05, "ncm_acc": knn1 - 0.01, "ncm_acc_per_class": knn1 - 0.06,
               "knn5_acc": knn1 + 0.01, "knn5_acc_per_class": float("nan"), "p_at_1": knn1, "r_precision": knn1 / 2,
               "map_at_r": knn1 / 2, "lfw_view2_acc": 0.8, "lfw_view2_std": 0.02, "lfw_view2_auc": 0.85,
               "lfw_view2_roc": roc, "lfw_view2_unseen_acc": 0.79, "lfw_view2_unseen_std": 0.03,
               "lfw_view2_unseen_auc": 0.84, "lfw_view2_unseen_pairs": 2803}
    return {**metrics, "eval_seconds": 61.5,
            "knn1_confusions": [{"true": f"Person_{i}", "predicted": "George_W_Bush", "count": 10 - i} for i in range(10)],
            "baselines": {name: {**metrics, "knn1_acc": 0.3} for name in ("raw_pixels", "pca_whitened")}}


def test_compare_writes_a_small_summary_of_every_evaluated_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from model.run_summary import ROC_POINTS, read_summary, write_summary

    grid = tmp_path / "grid.toml"
    grid.write_text('[defaults]\nbackbone = "small_cnn"\nepochs = 12\n\n[[experiment]]\nloss = "contrastive"\n'
                    'dim = [2, 64]\nseed = [0, 1]\n')
    runs = tmp_path / "runs"
    configs = load_grid(grid)
    for config in configs[:3]:
        fake_run(runs, config, _full_result(0.5 + config.dim / 200))
    fake_run(runs, configs[3], epochs=4)  # partial: no summary
    report = tmp_path / "docs" / "results.md"
    folder = tmp_path / "docs" / "results" / "runs"
    # What other reports and grids wrote stays; what this one wrote of a run it no longer has goes.
    stale = {"format": 1, "name": "lfw20-gone-s0", "report": str(report), "grid": str(grid), "config": {}, "eval": {}, "metrics": []}
    other = {**stale, "name": "lfw20-other-s0", "report": "docs/performance.md", "grid": None}
    write_summary(stale, folder), write_summary(other, folder)

    assert main(["compare", "--grid", str(grid), "--runs-dir", str(runs), "--report", str(report), "--report-only",
                 "--no-pictures"]) == 0
    out = capsys.readouterr().out
    assert f"wrote 3 run summaries in {folder}" in out and "removed 1 summaries of runs no longer in the grid: lfw20-gone-s0.json" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{c.default_run_name()}.json" for c in configs[:3]] + ["lfw20-other-s0.json"])
    for config in configs[:3]:
        name = config.default_run_name()
        path = folder / f"{name}.json"
        size = path.stat().st_size
        assert size < 30_000, f"{name}: {size} bytes"
        original = json.loads((runs / name / "eval.json").read_text())
        assert len(json.dumps(original)) > 3 * size  # the ROC curves are most of an eval.json
        summary = read_summary(path)
        assert (summary["name"], summary["report"], summary["grid"]) == (name, str(report), str(grid))
        assert summary["command"] == (f"doppelganger compare --grid {grid} --runs-dir {runs} --only {name} "
                                      f"--report {report}")
        assert summary["config"] == config.to_dict()
        values = summary["eval"]
        assert "run" not in values and "config" not in values
        assert len(values["lfw_view2_roc"]["fpr"]) == len(values["lfw_view2_roc"]["tpr"]) <= ROC_POINTS
        assert values["lfw_view2_roc"]["fpr"][0] == 0 and values["lfw_view2_roc"]["tpr"][-1] == 1
        assert summary["thinned"] == {"lfw_view2_roc": 1601}
        assert values["baselines"]["raw_pixels"] == {k: v for k, v in json.loads(json.dumps(
            original["baselines"]["raw_pixels"]).replace("NaN", "null")).items() if k != "lfw_view2_roc"}
        assert values["knn1_acc"] == original["knn1_acc"] and values["knn5_acc_per_class"] is None  # NaN: null
        assert values["knn1_confusions"] == original["knn1_confusions"]
        assert [m["epoch"] for m in summary["metrics"]] == list(range(1, 13)) and summary["metrics"][0]["loss"] == 1.0
        assert "NaN" not in path.read_text()
    print(f"typical summary: {sorted(p.stat().st_size for p in folder.iterdir())[1]} bytes")


def test_runs_export_writes_the_summaries_of_runs_outside_a_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import shlex

    from app.cli import build_parser
    from model.config import TRAIN_FLAGS
    from model.run_summary import read_summary

    config = TrainConfig(loss="triplet", miner="batch-hard", soft_margin=True, backbone="small_cnn", pretrained=False,
                         dim=16, image_size=48, epochs=3, lr=0.00031, weight_decay=1e-05, seed=2, threads=1)
    run = fake_run(tmp_path / "runs", config, _full_result(0.7))
    renamed = run.rename(run.with_name("my-run"))  # a run named by hand, outside a grid
    untrained = fake_run(tmp_path / "runs", TrainConfig(dim=8))
    out = tmp_path / "summaries"
    assert main(["runs", "export", str(renamed), "--to", str(out), "--report", "docs/performance.md"]) == 0
    assert f"wrote {out / 'my-run.json'}" in capsys.readouterr().out
    summary = read_summary(out / "my-run.json")
    assert (summary["name"], summary["report"], summary["grid"]) == ("my-run", "docs/performance.md", None)
    assert summary["command"] == (f"{summary['train_command']} && doppelganger runs export {renamed} --to {out} "
                                  "--report docs/performance.md")
    # The train command trains the same run again.
    train, evaluate = summary["train_command"].split(" && ")
    assert evaluate == f"doppelganger evaluate {renamed}"
    args = build_parser().parse_args(shlex.split(train)[1:])
    assert isinstance(args, argparse.Namespace) and args.out == str(renamed)
    again = TrainConfig.from_dict({k: getattr(args, k) for k in TRAIN_FLAGS if hasattr(args, k)})
    skip = ("threads", "device", "amp")
    assert {k: v for k, v in again.to_dict().items() if k not in skip} == {k: v for k, v in config.to_dict().items() if k not in skip}

    # A run without an eval.json is refused, and nothing is written, not even the evaluated run's summary.
    assert main(["runs", "export", str(renamed), str(untrained), "--to", str(tmp_path / "none")]) == 2
    assert "eval.json does not exist" in capsys.readouterr().err and not (tmp_path / "none").exists()


@pytest.mark.parametrize("change, words", [
    (lambda s: s.update(name="another"), "is not its file's name"),
    (lambda s: s.update(format=99), "format 99"),
    (lambda s: s.update(metrics={"epoch": 1}), "metrics should be a JSON array"),
    (lambda s: s.update(config={"loss": "arcface"}), "its config is not a run's config"),
    (lambda s: s.update(eval=[1, 2]), "eval should be a JSON object"),
], ids=["name", "format", "metrics", "config", "eval"])
def test_a_summary_that_is_not_one_is_refused(tmp_path: Path, change, words: str) -> None:
    from model.run_summary import read_summary, summarise_run, write_summary

    summary = summarise_run(fake_run(tmp_path / "runs", TrainConfig(dim=8), {"knn1_acc": 0.5}))
    path = write_summary(summary, tmp_path / "out")
    assert read_summary(path)["eval"]["knn1_acc"] == 0.5
    change(summary)
    path.write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=words):
        read_summary(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        read_summary(path)


def test_a_margin_that_differs_within_a_loss_gets_a_column_and_each_loss_default_does_not() -> None:
    from model.compare_report import Result, results_tables, varying_keys
    from model.grid import Run

    def result(**settings: Any) -> Result:
        return Result(Run(TrainConfig(**settings), Path("runs") / "x"), {"knn1_acc": 0.5, "epochs": 12, "best_epoch": 12})

    defaults = [result(loss="contrastive"), result(loss="triplet", miner="semi-hard"), result(loss="cosface")]
    assert "margin" not in varying_keys(defaults)  # 1.0, 0.2 and 0.35: each loss's own default, no column

    group = [result(loss="contrastive"), result(loss="contrastive", margin=0.5)]
    assert "margin" in varying_keys(group)
    rows = results_tables(group)
    assert "margin" in rows[0]
    assert "| 1.0 |" in rows[2] and "| 0.5 |" in rows[3]  # the default run shows the margin it trained with
