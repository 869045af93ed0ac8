"""Training an embedding: ``parse_args``, ``main``, ``train_epoch`` and ``evaluate``.

One ``EmbeddingNet`` embeds every image of a batch in a single forward pass; the loss decides what it compares.
For the contrastive loss this is the siamese network (its two branches share every weight, Bromley et al. 1993)
fed balanced pairs; the triplet loss takes P x K batches and a miner; CosFace a P x K batch and class weights.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from model.config import COLLAPSE_SPREAD, TRAIN_FLAGS, TrainConfig, add_train_arguments
from model.data.image_set import ImageSet
from model.data.splits import save_split
from model.data.tasks import dataset_cache, is_closed_set, make_parts
from model.evaluation import knn_predict, retrieval_metrics
from model.inference import embed_images
from model import miners
from model.losses import ContrastiveLoss, CosFaceLoss, TripletMarginLoss
from model.losses.contrastive_loss import pair_distance
from model.networks import EmbeddingNet
from model.run import RunDir, atomic_torch_save
from model.samplers import BalancedPairSampler, PKSampler
from model.settings import get_settings
from model.transforms import augmentation_for, to_float_batch

VAL_GALLERY_PER_CLASS = 50
"""Validation 1-NN searches at most this many training images per class (enough to rank epochs, and cheap)."""

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    add_train_arguments(parser)
    return parser.parse_args(argv)


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, RunDir]:
    """Merge the defaults, the run's saved config (when resuming), the config file and the flags, in that order."""
    values: dict[str, Any] = {}
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR")
        run = RunDir(args.out)
        if not run.exists():
            raise ValueError(f"nothing to resume: {run.config_file} does not exist")
        values.update(run.config().to_dict())
    if args.config:
        text = Path(args.config).read_text()
        values.update(tomllib.loads(text) if args.config.endswith(".toml") else json.loads(text))
    values.update({k: getattr(args, k) for k in TRAIN_FLAGS if hasattr(args, k)})
    config = TrainConfig.from_dict(values)
    run = RunDir(args.out or get_settings().runs_dir / config.default_run_name())
    return config, run


def build_loss(config: TrainConfig, num_classes: int) -> torch.nn.Module:
    """The loss module of ``config.loss`` (CosFace owns class weights, which the optimiser must also train)."""
    if config.loss == "contrastive":
        return ContrastiveLoss(margin=config.loss_margin)
    if config.loss == "triplet":
        return TripletMarginLoss(margin=config.loss_margin, soft_margin=config.soft_margin)
    if config.loss == "cosface":
        return CosFaceLoss(num_classes, config.dim, margin=config.loss_margin, scale=config.scale)
    raise ValueError(f"unknown loss {config.loss!r}")


def build_miner(config: TrainConfig):
    """The triplet miner of ``config.miner`` (``None`` for the losses that need none)."""
    if config.loss != "triplet":
        return None
    name = config.miner.replace("-", "_")
    kwargs = {"margin": config.loss_margin} if name in ("batch_all", "semi_hard") else {}
    if name == "random":
        kwargs = {"seed": config.seed}
    return miners.build_miner(name, **kwargs)


def build_sampler(config: TrainConfig, labels: np.ndarray) -> BalancedPairSampler | PKSampler:
    """Balanced pairs for the contrastive loss; P x K batches for the others. Every batch holds
    ``2 * batch_size`` images and every epoch ``2 * pairs_per_epoch``, whatever the loss."""
    if config.loss == "contrastive":
        return BalancedPairSampler(labels, config.pairs_per_epoch, seed=config.seed, batch_size=config.batch_size)
    images_per_batch = 2 * config.batch_size
    if images_per_batch % config.k:
        raise ValueError(f"--k {config.k} must divide the {images_per_batch} images of a batch")
    batches = math.ceil(config.pairs_per_epoch / config.batch_size)
    return PKSampler(labels, p=images_per_batch // config.k, k=config.k, batches_per_epoch=batches, seed=config.seed)


def batch_loss(config: TrainConfig, loss_fn: torch.nn.Module, miner, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of one batch. For drawn pairs, rows ``i`` and ``i + n`` of the batch are the pairs."""
    if config.loss == "contrastive":
        if config.pairs == "batch":
            return loss_fn.all_pairs(embeddings, labels)
        n = len(labels) // 2
        return loss_fn(embeddings[:n], embeddings[n:], labels[:n] == labels[n:])
    if config.loss == "triplet":
        return loss_fn(embeddings, labels, miner(embeddings, labels))
    return loss_fn(embeddings, labels)


def lr_schedule(total_steps: int, warmup_steps: int):
    """Linear warm-up, then cosine decay to zero: a multiplier of the peak learning rate per step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def batch_diagnostics(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, float]:
    """Mean distance of the batch's positive pairs, of its negative pairs, and the embedding's spread (mean
    standard deviation per dimension; near zero when every image lands on one point)."""
    i, j = torch.triu_indices(len(labels), len(labels), offset=1)
    d = pair_distance(embeddings[i], embeddings[j])
    same = labels[i] == labels[j]
    pos = d[same].mean().item() if same.any() else float("nan")
    neg = d[~same].mean().item() if (~same).any() else float("nan")
    return pos, neg, embeddings.std(dim=0).mean().item()


def train_epoch(
    config: TrainConfig,
    net: EmbeddingNet,
    augment: torch.nn.Module,
    loss_fn: torch.nn.Module,
    miner,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    images: torch.Tensor,
    labels: torch.Tensor,
    sampler: BalancedPairSampler | PKSampler,
    epoch: int,
    bar: tqdm | None = None,
) -> dict[str, float]:
    """One pass over this epoch's batches. Returns the mean loss and the diagnostics that reveal a collapse:
    positive and negative distances, the fraction of pairs or triplets still active, the embedding's spread."""
    net.train()
    augment.train()
    loss_fn.train()
    totals = dict.fromkeys(("loss", "pos_dist", "neg_dist", "active_fraction", "spread"), 0.0)
    n_batches = n_images = 0
    start = time.perf_counter()
    for rows in sampler.batches(epoch):
        rows = torch.from_numpy(rows)
        batch_labels = labels[rows]
        embeddings = net(augment(to_float_batch(images[rows])))
        loss = batch_loss(config, loss_fn, miner, embeddings, batch_labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            pos, neg, spread = batch_diagnostics(embeddings.detach(), batch_labels)
        for key, value in (("loss", loss.item()), ("pos_dist", pos), ("neg_dist", neg),
                           ("active_fraction", loss_fn.last_active_fraction), ("spread", spread)):
            totals[key] += value
        n_batches += 1
        n_images += len(rows)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{totals['loss'] / n_batches:.4f}")
    seconds = time.perf_counter() - start
    return {
        **{key: value / n_batches for key, value in totals.items()},
        "train_seconds": seconds,
        "images_per_second": n_images / seconds,
    }


def capped_per_class(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Indices keeping at most ``cap`` images of each class (chosen with ``seed``)."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:cap] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def evaluate(
    net: EmbeddingNet,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    gallery_images: np.ndarray | None = None,
    gallery_labels: np.ndarray | None = None,
) -> dict[str, float]:
    """Validation metrics: retrieval within the validation images and, for closed sets, 1-NN against a gallery."""
    val = embed_images(net, val_images)
    out = {f"val_{k}": v for k, v in retrieval_metrics(val, val_labels).items()}
    if gallery_images is not None:
        gallery = embed_images(net, gallery_images)
        predicted = knn_predict(gallery, gallery_labels, val, k=1)
        out["val_knn1_acc"] = float(np.mean(predicted == val_labels))
    return out


def main(args: argparse.Namespace) -> RunDir:
    config, run = resolve_config(args)
    settings = get_settings()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    torch.manual_seed(config.seed)
    closed = is_closed_set(config.dataset, config.protocol)

    if args.resume:
        parts = run.split(root=None)
    else:
        if run.exists():
            raise ValueError(f"{run.path} already holds a run: pass --resume to continue it, or choose another --out")
        parts = make_parts(config.dataset, settings.data_dir, config.min_images, config.seed, config.protocol)
        run.write_config(config)
        save_split(run.split_file, config.dataset, parts)
    train, val = parts["train"], parts["val"]
    cache = dataset_cache(config.dataset, settings.data_dir, settings.cache_dir, config.image_size)
    train_images = torch.from_numpy(cache.take(train.paths))
    train_labels = torch.from_numpy(train.labels)
    val_images = cache.take(val.paths)
    gallery = capped_per_class(train.labels, VAL_GALLERY_PER_CLASS, config.seed) if closed else None
    gallery_images = train_images[gallery].numpy() if closed else None
    gallery_labels = train.labels[gallery] if closed else None
    select = "val_knn1_acc" if closed else "val_map_at_r"

    net = EmbeddingNet(config.backbone, config.dim, pretrained=config.pretrained)
    augment = augmentation_for(config.dataset)
    loss_fn = build_loss(config, train.num_classes)
    miner = build_miner(config)
    sampler = build_sampler(config, train.labels)
    steps_per_epoch = len(sampler.batches(0))
    optimizer = torch.optim.AdamW([*net.parameters(), *loss_fn.parameters()], lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_schedule(config.epochs * steps_per_epoch, min(steps_per_epoch, 100))
    )

    start_epoch, best = 0, -math.inf
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    if args.resume and run.checkpoint("last").exists():
        state = torch.load(run.checkpoint("last"), map_location="cpu", weights_only=False)
        net.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best = state["epoch"] + 1, state["best"]
        if start_epoch >= config.epochs:
            print(f"{run.path} has finished all {config.epochs} epochs; nothing to resume (raise --epochs to go on)")
            return run

    print(f"training {config.default_run_name()} in {run.path}")
    print(f"  train {describe(train)}; val {describe(val)}; {torch.get_num_threads()} threads")
    writer = SummaryWriter(str(run.tensorboard))
    bar = tqdm(total=config.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch, unit="batch", desc="train")
    for epoch in range(start_epoch, config.epochs):
        stats = train_epoch(
            config, net, augment, loss_fn, miner, optimizer, scheduler, train_images, train_labels, sampler, epoch, bar
        )
        stats.update(evaluate(net, val_images, val.labels, gallery_images, gallery_labels))
        record = {"epoch": epoch + 1, "lr": scheduler.get_last_lr()[0], **stats}
        with open(run.metrics_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key != "epoch":
                writer.add_scalar(key, value, epoch + 1)
        writer.flush()
        improved = record[select] > best
        if improved:
            best = record[select]
            atomic_torch_save({"model": net.state_dict(), "epoch": epoch, "config": config.to_dict()}, run.checkpoint("best"))
        atomic_torch_save(
            {
                "model": net.state_dict(), "loss": loss_fn.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(), "epoch": epoch, "best": best, "config": config.to_dict(),
            },
            run.checkpoint("last"),
        )
        bar.write(
            f"epoch {epoch + 1}/{config.epochs}  loss {record['loss']:.4f}  d+ {record['pos_dist']:.3f}  "
            f"d- {record['neg_dist']:.3f}  active {record['active_fraction']:.2f}  {select} {record[select]:.4f}"
            + ("  *" if improved else "")
        )
        if record["spread"] < COLLAPSE_SPREAD:
            bar.write(
                f"  warning: the embedding has collapsed (spread {record['spread']:.4f} < {COLLAPSE_SPREAD}): every "
                "image lands near one point; lower --lr, or try another margin or miner"
            )
    bar.close()
    writer.close()
    print(f"best {select} {best:.4f}; checkpoints in {run.checkpoints}")
    return run


def describe(images: ImageSet) -> str:
    counts = images.class_counts()
    return f"{int((counts > 0).sum())} classes / {len(images)} images"
