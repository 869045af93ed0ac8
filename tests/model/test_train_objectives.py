"""Every loss and miner trains through the same loop: batches from the right sampler, a falling loss, and
classes that pull apart on held-out data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import MINERS, TrainConfig
from model.inference import embed_images
from model.networks import EmbeddingNet
from model.samplers import BalancedPairSampler, PKSampler
from model.train import batch_diagnostics, build_loss, build_miner, build_sampler, lr_schedule, train_epoch
from model.transforms import BatchAugment

CONFIGS = [("contrastive", None, "batch"), ("contrastive", None, "pk"), ("contrastive", None, "drawn"), ("cosface", None, None)] + [
    ("triplet", miner, None) for miner in MINERS
]


def _squares(n_per_class: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(classes * n_per_class, 32, 32, 3))
    labels = np.repeat(np.arange(classes), n_per_class)
    for i, c in enumerate(labels):
        y, x = 4 + 6 * (c % 3), 4 + 6 * (c // 3)
        images[i, y : y + 10, x : x + 10, c % 3] = 230
    return images.astype(np.uint8), labels


def _gap(net: EmbeddingNet, images: np.ndarray, labels: np.ndarray) -> float:
    emb = embed_images(net, images)
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    same = labels[:, None] == labels[None]
    return float(d[~same].mean() - d[same & ~np.eye(len(labels), dtype=bool)].mean())


def test_samplers_follow_the_loss() -> None:
    labels = np.repeat(np.arange(8), 6)
    assert isinstance(build_sampler(TrainConfig(loss="contrastive", pairs="batch"), labels), BalancedPairSampler)
    assert isinstance(build_sampler(TrainConfig(loss="contrastive", pairs="drawn"), labels), BalancedPairSampler)
    assert isinstance(build_sampler(TrainConfig(loss="contrastive", batch_size=8), labels), PKSampler)  # the default, pairs "pk"
    pk = build_sampler(TrainConfig(loss="triplet", batch_size=16, images_per_class=4, pairs_per_epoch=64), labels)
    assert isinstance(pk, PKSampler)
    batches = pk.batches(0)
    assert len(batches) == 4 and all(len(b) == 32 for b in batches)  # same images per batch and epoch as pairs
    with pytest.raises(ValueError, match="must divide"):
        build_sampler(TrainConfig(loss="triplet", batch_size=16, images_per_class=5), labels)


def test_miner_only_for_the_triplet_loss() -> None:
    assert build_miner(TrainConfig(loss="contrastive")) is None
    assert build_miner(TrainConfig(loss="cosface")) is None
    assert type(build_miner(TrainConfig(loss="triplet", miner="semi-hard"))).__name__ == "SemiHardMiner"


def test_miner_warmup_is_for_the_triplet_loss_and_named_in_the_run() -> None:
    config = TrainConfig(loss="triplet", miner="batch-hard", miner_warmup=3)
    assert config.default_run_name() == "lfw20-triplet-batch-hard-warm3-mobilenet_v2-d64-s0"
    assert TrainConfig(loss="triplet", miner="batch-hard").default_run_name() == "lfw20-triplet-batch-hard-mobilenet_v2-d64-s0"
    with pytest.raises(ValueError, match="--miner-warmup applies to --loss triplet only; --loss cosface does not use it"):
        TrainConfig(loss="cosface", miner_warmup=2)
    with pytest.raises(ValueError, match="0 or more"):
        TrainConfig(loss="triplet", miner_warmup=-1)


def test_default_margins_per_loss() -> None:
    assert build_loss(TrainConfig(loss="contrastive"), 5).margin == 1.0
    assert build_loss(TrainConfig(loss="triplet"), 5).margin == 0.2
    assert build_loss(TrainConfig(loss="cosface"), 5).margin == 0.35
    assert build_loss(TrainConfig(loss="triplet", margin=0.5), 5).margin == 0.5


def test_unknown_choice_in_a_config_file_is_refused() -> None:
    with pytest.raises(ValueError, match="miner 'hardest' is not one of"):
        TrainConfig.from_dict({"loss": "triplet", "miner": "hardest"})


def test_batch_diagnostics_by_hand() -> None:
    # Points 0 and 1 (class 0) at distance 1; point 2 (class 1) at distance 2 from both (equilateral-ish):
    # x0=(0,0), x1=(1,0), x2=(0.5, sqrt(3.75)) -> d02 = d12 = sqrt(0.25 + 3.75) = 2.
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 3.75**0.5]])
    pos, neg, spread = batch_diagnostics(x, torch.tensor([0, 0, 1]))
    assert pos == pytest.approx(1.0) and neg == pytest.approx(2.0, rel=1e-5)
    assert spread == pytest.approx(float(x.std(dim=0).mean()))
    assert batch_diagnostics(torch.ones(4, 3), torch.tensor([0, 0, 1, 1]))[2] == 0.0  # a collapse shows as 0


@pytest.mark.parametrize(("loss", "miner", "pairs"), CONFIGS, ids=lambda v: str(v))
def test_every_objective_learns_a_metric(loss: str, miner: str | None, pairs: str | None) -> None:
    torch.manual_seed(0)
    train_x, train_y = _squares(16, 6, seed=0)
    test_x, test_y = _squares(6, 6, seed=1)
    per_class = 4 if loss != "contrastive" or pairs == "pk" else None
    config = TrainConfig(loss=loss, miner=miner, pairs=pairs, batch_size=12, images_per_class=per_class, pairs_per_epoch=96, dim=16)
    net = EmbeddingNet("small_cnn", dim=16, pretrained=False)
    loss_fn = build_loss(config, num_classes=6)
    sampler = build_sampler(config, train_y)
    optimizer = torch.optim.AdamW([*net.parameters(), *loss_fn.parameters()], lr=3e-3)
    epochs = 4
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(epochs * len(sampler.batches(0)), 2))
    images, labels = torch.from_numpy(train_x), torch.from_numpy(train_y)
    gap_before = _gap(net, test_x, test_y)
    stats = [
        train_epoch(config, net, BatchAugment(hflip=True), loss_fn, build_miner(config), optimizer, scheduler, images, labels, sampler, e)
        for e in range(epochs)
    ]
    for s in stats:
        assert 0.0 <= s["active_fraction"] <= 1.0 and s["spread"] > 0 and s["images_per_second"] > 0
    assert _gap(net, test_x, test_y) > gap_before + 0.1
    assert stats[-1]["neg_dist"] > stats[-1]["pos_dist"]


def test_naming_only_the_triplet_loss_gets_the_miner_the_results_recommend() -> None:
    """Batch-hard collapses on faces (docs/results-notes.md); semi-hard does not, so it is the default miner."""
    assert TrainConfig(loss="triplet").miner == "semi-hard"
    assert TrainConfig(loss="triplet").default_run_name() == "lfw20-triplet-semi-hard-mobilenet_v2-d64-s0"


def test_images_per_class_is_read_from_runs_saved_as_k() -> None:
    """``k`` meant images per class in a P x K batch and matches per face: the config now says images_per_class,
    and a run saved with the old name still loads."""
    assert TrainConfig.from_dict({"loss": "triplet", "k": 8}).images_per_class == 8
    assert "images_per_class" in TrainConfig(loss="triplet").to_dict() and "k" not in TrainConfig(loss="triplet").to_dict()


@pytest.mark.parametrize(("loss", "setting"), [
    ("contrastive", {"miner": "batch-hard"}), ("contrastive", {"soft_margin": True}), ("contrastive", {"scale": 16.0}),
    ("cosface", {"hinge": "plain"}), ("cosface", {"pairs": "drawn"}), ("triplet", {"reducer": "nonzero"}),
    ("triplet", {"pos_margin": 0.1}), ("cosface", {"miner": "semi-hard"}),
])
def test_a_setting_the_loss_ignores_is_refused(loss: str, setting: dict) -> None:
    [(name, _)] = setting.items()
    with pytest.raises(ValueError, match=f"--{name.replace('_', '-')} applies to .* only; --loss {loss} does not use it"):
        TrainConfig(loss=loss, **setting)


def test_a_run_records_only_the_settings_its_loss_uses() -> None:
    contrastive = TrainConfig(loss="contrastive").to_dict()
    assert not {"miner", "soft_margin", "miner_warmup", "scale"} & set(contrastive)
    assert {"pairs", "pos_margin", "hinge", "reducer", "margin", "images_per_class"} <= set(contrastive)
    assert "images_per_class" not in TrainConfig(loss="contrastive", pairs="batch").to_dict()
    with pytest.raises(ValueError, match="--images-per-class applies to .* only; --loss contrastive does not use it"):
        TrainConfig(loss="contrastive", pairs="drawn", images_per_class=8)
    triplet = TrainConfig(loss="triplet").to_dict()
    assert triplet["miner"] == "semi-hard" and not {"pairs", "pos_margin", "hinge", "reducer", "scale"} & set(triplet)
    assert TrainConfig(loss="contrastive", pairs="pk").images_per_class == 4
    # Values that switch a setting off are no setting at all, whatever the loss.
    assert "soft_margin" not in TrainConfig(loss="cosface", soft_margin=False, miner_warmup=0).to_dict()


def test_the_command_line_refuses_a_miner_for_the_contrastive_loss(capsys: pytest.CaptureFixture[str]) -> None:
    from model.train import parse_args, resolve_config
    with pytest.raises(ValueError, match="--miner applies to --loss triplet only"):
        resolve_config(parse_args(["--loss", "contrastive", "--miner", "batch-hard"]))
    config, _ = resolve_config(parse_args(["--loss", "contrastive"]))
    assert config.miner is None and "miner" not in config.to_dict()


def test_runs_saved_with_settings_their_loss_ignores_still_load(tmp_path) -> None:
    """Runs saved before the refusal recorded every setting (a contrastive run's miner); they load without it, and
    with the contrastive settings they trained with before those existed."""
    from model.run import RunDir
    run = RunDir(tmp_path / "old")
    run.path.mkdir()
    run.config_file.write_text('{"loss": "contrastive", "miner": "batch-hard", "soft_margin": false, "miner_warmup": 0, '
                               '"k": 4, "scale": 32.0, "pairs": "batch", "dim": 64}')
    config = run.config()
    assert config.miner is None and config.images_per_class is None
    assert (config.pos_margin, config.hinge, config.reducer) == (0.0, "squared", "mean")
