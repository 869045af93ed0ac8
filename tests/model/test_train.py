"""Training and evaluation end to end, through the command line, on a few tiny batches of the real datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from model.evaluation import knn_predict
from model.inference import embed_images
from model.losses import ContrastiveLoss
from model.networks import EmbeddingNet
from model.samplers import BalancedPairSampler
from model.config import TrainConfig
from model.train import lr_schedule, train_epoch
from model.transforms import BatchAugment

TINY = ["--backbone", "small_cnn", "--dim", "8", "--image-size", "32", "--pairs-per-epoch", "64", "--batch-size", "16"]
CLOSED_SET_KEYS = {
    "ncm_acc", "knn1_acc", "knn5_acc", "ncm_acc_per_class", "knn1_acc_per_class", "p_at_1", "r_precision", "map_at_r",
}
LFW_KEYS = {"lfw_view2_acc", "lfw_view2_std", "lfw_view2_auc"}


@pytest.fixture(scope="module")
def lfw_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("lfw") / "run"
    assert main(["train", "--dataset", "lfw", "--min-images", "20", "--epochs", "1", *TINY, "--out", str(run)]) == 0
    return run


def test_train_writes_a_complete_run_directory(lfw_run: Path) -> None:
    config = json.loads((lfw_run / "config.json").read_text())
    assert config["dataset"] == "lfw" and config["dim"] == 8 and config["backbone"] == "small_cnn"
    split = json.loads((lfw_run / "split.json").read_text())
    assert len(split["classes"]) == 62
    sizes = {name: len(part["paths"]) for name, part in split["parts"].items()}
    assert sum(sizes.values()) == 3023 and sizes["train"] > sizes["test"] > sizes["val"]
    assert not set(split["parts"]["train"]["paths"]) & set(split["parts"]["test"]["paths"])
    assert (lfw_run / "checkpoints" / "best.pt").exists() and (lfw_run / "checkpoints" / "last.pt").exists()
    [record] = [json.loads(line) for line in (lfw_run / "metrics.jsonl").read_text().splitlines()]
    assert record["epoch"] == 1
    for key in ("loss", "pos_dist", "neg_dist", "active_fraction", "spread", "val_knn1_acc", "val_map_at_r", "images_per_second"):
        assert np.isfinite(record[key]), key
    assert list((lfw_run / "tensorboard").glob("events.out.tfevents.*"))


def test_resume_continues_from_the_last_checkpoint(lfw_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    import shutil

    shutil.copytree(lfw_run, run)
    before = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert main(["train", "--resume", "--epochs", "2", "--out", str(run)]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    after = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert after["epoch"] == before["epoch"] + 1
    assert json.loads((run / "split.json").read_text()) == json.loads((lfw_run / "split.json").read_text())


@pytest.mark.parametrize("threshold, warned", [(10.0, True), (0.0, False)])
def test_a_collapsed_epoch_is_warned_about(
    lfw_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    threshold: float, warned: bool,
) -> None:
    """The progress output says so when an epoch ends with its spread below the collapse threshold (raised here
    above any spread a unit-length embedding can have, then set to zero), and only then."""
    import shutil

    import model.train

    run = tmp_path / "run"
    shutil.copytree(lfw_run, run)
    monkeypatch.setattr(model.train, "COLLAPSE_SPREAD", threshold)
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "2", "--out", str(run)]) == 0
    captured = capsys.readouterr()
    output = captured.out + captured.err
    spread = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["spread"]
    assert output.count("warning: the embedding has collapsed") == int(warned)
    if warned:
        assert f"(spread {spread:.4f} < {threshold})" in output and "try another --margin, --lr or loss" in output


def test_miner_warmup_mines_semi_hard_triplets_first(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """``--miner-warmup 1`` hands the first epoch's batches to the semi-hard miner, the next ones to ``--miner``."""
    import model.train

    seen: list[str] = []
    original = model.train.train_epoch

    def recording(config, model_, augment, loss_fn, miner, *rest, **kwargs):
        seen.append(type(miner).__name__)
        return original(config, model_, augment, loss_fn, miner, *rest, **kwargs)

    monkeypatch.setattr(model.train, "train_epoch", recording)
    monkeypatch.setattr(model.train, "COLLAPSE_SPREAD", 10.0)  # every epoch warns: the triplet advice is checked
    run = tmp_path / "run"
    assert main(["train", "--dataset", "lfw", "--min-images", "20", "--loss", "triplet", "--miner", "batch-hard",
                 "--miner-warmup", "1", "--epochs", "2", *TINY, "--out", str(run)]) == 0
    assert seen == ["SemiHardMiner", "BatchHardMiner"]
    output = capsys.readouterr().out
    assert "semi-hard triplets for the first 1 epoch(s), then batch-hard" in output
    assert output.count("try a warm-up on easier triplets (--miner-warmup 3)") == 2
    assert json.loads((run / "config.json").read_text())["miner_warmup"] == 1


def test_train_refuses_to_overwrite_a_run(lfw_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--epochs", "1", *TINY, "--out", str(lfw_run)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_config_file_is_read_and_flags_override_it(data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('dataset = "lfw"\nmin_images = 20\ndim = 4\nepochs = 1\nseed = 3\n')
    run = tmp_path / "run"
    args = ["train", "--config", str(config), *TINY, "--out", str(run)]  # TINY sets --dim 8
    assert main(args) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["dim"] == 8 and saved["seed"] == 3 and saved["epochs"] == 1


def test_evaluate_lfw_closed_set(lfw_run: Path) -> None:
    assert main(["evaluate", str(lfw_run)]) == 0
    result = json.loads((lfw_run / "eval.json").read_text())
    assert CLOSED_SET_KEYS | LFW_KEYS <= set(result)
    assert "lfw_devtest_acc" not in result
    split = json.loads((lfw_run / "split.json").read_text())
    assert result["test_images"] == len(split["parts"]["test"]["paths"])
    for key in CLOSED_SET_KEYS | LFW_KEYS:
        assert 0.0 <= result[key] <= 1.0, key
    assert set(result["baselines"]) == {"raw_pixels", "pca_whitened"}
    for baseline in result["baselines"].values():
        assert CLOSED_SET_KEYS | LFW_KEYS <= set(baseline)
    # Properties that hold for any correct evaluation, and break when one goes wrong:
    chance = 1 / result["classes"]
    for name, values in {"model": result, **result["baselines"]}.items():
        assert values["map_at_r"] <= values["r_precision"] + 1e-9, name  # MAP@R averages precisions <= 1 over R
        assert 0.5 <= values["lfw_view2_auc"] <= 1.0 or name == "model", name
    # Raw pixels are a weak but real signal: far above chance on LFW's 62 people, both for 1-NN and the pairs.
    raw = result["baselines"]["raw_pixels"]
    assert raw["knn1_acc"] > 3 * chance and raw["lfw_view2_acc"] > 0.55
    # The confusions are wrong answers of 1-NN: never a person with themselves, and no more than its errors.
    errors = round((1 - result["knn1_acc"]) * result["test_images"])
    confusions = result.get("knn1_confusions", [])
    assert all(c["true"] != c["predicted"] and c["count"] >= 1 for c in confusions)
    assert sum(c["count"] for c in confusions) <= errors
    roc = result["lfw_view2_roc"]
    assert roc["fpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1 and roc["fpr"] == sorted(roc["fpr"])
    assert result["epochs"] == 1 and result["train_minutes"] > 0
    report = (lfw_run / "eval.md").read_text()
    assert "LFW View 2 acc" in report and "raw_pixels" in report


def test_evaluate_lfw_devtrain_reports_devtest(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "dev"
    assert main(["train", "--protocol", "devtrain", "--min-images", "10", "--epochs", "1", *TINY, "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--no-baselines"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert 0.0 <= result["lfw_devtest_acc"] <= 1.0 and "lfw_view2_acc" in result
    assert "ncm_acc" not in result and "knn1_acc" not in result  # open set: unseen identities
    assert {"p_at_1", "r_precision", "map_at_r"} <= set(result)


def test_tt100k_train_and_evaluate(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "signs"
    assert main(["train", "--dataset", "tt100k", "--min-images", "20", "--epochs", "1", *TINY, "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--no-baselines"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["classes"] == 71 and CLOSED_SET_KEYS <= set(result)
    assert not LFW_KEYS & set(result)


def test_report_prints_one_row_per_run(lfw_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (lfw_run / "eval.json").exists():
        assert main(["evaluate", str(lfw_run), "--no-baselines"]) == 0
    capsys.readouterr()
    assert main(["report", str(lfw_run)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| LFW-62")]
    assert len(rows) == 1 and "| contrastive | small_cnn | 8 |" in rows[0]


def test_missing_dataset_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from model.settings import get_settings

    monkeypatch.setenv("DOPPELGANGER_DATA_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    try:
        assert main(["train", "--epochs", "1", *TINY, "--out", str(tmp_path / "run")]) == 2
    finally:
        get_settings.cache_clear()
    assert "doppelganger data download lfw" in capsys.readouterr().err


def _coloured_squares(n_per_class: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images whose class is the colour of a square at a class-specific place: easy to learn, not to memorise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            image = rng.integers(0, 60, size=(32, 32, 3))
            y, x = 4 + 6 * (c % 3), 4 + 6 * (c // 3)
            image[y : y + 10, x : x + 10, c % 3] = 230
            images.append(image)
            labels.append(c)
    return np.asarray(images, dtype=np.uint8), np.asarray(labels)


def _class_gap(net: EmbeddingNet, images: np.ndarray, labels: np.ndarray) -> float:
    """Mean distance between images of different classes minus mean distance within a class."""
    emb = embed_images(net, images)
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    same = labels[:, None] == labels[None]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return float(d[~same].mean() - d[same & off_diagonal].mean())


def test_contrastive_training_learns_a_metric() -> None:
    """A few epochs on separable data: the loss falls, classes pull apart, held-out 1-NN is near perfect."""
    torch.manual_seed(0)
    train_x, train_y = _coloured_squares(24, 6, seed=0)
    test_x, test_y = _coloured_squares(8, 6, seed=1)
    net = EmbeddingNet("small_cnn", dim=16, pretrained=False)
    gap_before = _class_gap(net, test_x, test_y)
    config = TrainConfig(loss="contrastive", pairs="drawn", batch_size=32, pairs_per_epoch=256)
    sampler = BalancedPairSampler(train_y, pairs_per_epoch=256, seed=0, batch_size=32)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(6 * 8, 4))
    augment = BatchAugment(hflip=True)
    images, labels = torch.from_numpy(train_x), torch.from_numpy(train_y)
    losses = [
        train_epoch(config, net, augment, ContrastiveLoss(margin=1.0), None, optimizer, scheduler, images, labels, sampler, epoch)["loss"]
        for epoch in range(6)
    ]
    after = np.mean(knn_predict(embed_images(net, train_x), train_y, embed_images(net, test_x), k=1) == test_y)
    assert losses[-1] < 0.5 * losses[0]
    assert _class_gap(net, test_x, test_y) > gap_before + 0.3
    assert after >= 0.95
