"""Training an embedding: ``parse_args``, ``main``, ``train_epoch`` (one ``train_step`` per batch) and ``evaluate``.

One ``EmbeddingNet`` embeds every image of a batch in a single forward pass; the loss decides what it compares.
For the contrastive loss this is the siamese network (its two branches share every weight, Bromley et al. 1993)
fed balanced pairs; the triplet loss takes P x K batches and a miner; CosFace a P x K batch and class weights.
With ``--teacher`` the network is a student: ``DistillationLoss`` adds its distance to the teacher's embeddings
of the batch's images (computed once before training, ``model.teacher``) to the weighted metric loss.

The same command trains on a GPU (``--device``, mixed precision unless ``--no-amp``) and, launched with
``torchrun --nproc-per-node N``, in N processes with DistributedDataParallel (``model.distributed``): every rank
draws whole batches of its own (``DistributedBatchSampler``), the triplet miners and the all-pairs contrastive
loss see the embeddings gathered from every rank, and rank 0 alone prints, writes metrics and saves checkpoints.
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

from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from model.config import COLLAPSE_SPREAD, TRAIN_FLAGS, TrainConfig, add_train_arguments
from model.data.image_set import ImageSet
from model.data.splits import save_split
from model.data.tasks import dataset_cache, is_closed_set, make_parts, run_crop
from model.distributed import ProcessGroup, backend_for, select_device
from model.evaluation import knn_predict, retrieval_metrics
from model.inference import embed_images
from model import miners
from model.losses import ContrastiveLoss, CosFaceLoss, DistillationLoss, TripletMarginLoss
from model.losses.contrastive_loss import pair_distance
from model.networks import EmbeddingNet
from model.run import RunDir, atomic_torch_save
from model.samplers import BalancedPairSampler, DistributedBatchSampler, PKSampler
from model.settings import get_settings
from model.teacher import Teacher, resolve_teacher, teacher_embeddings, with_teacher_template
from model.transforms import augmentation_for, to_float_batch

VAL_GALLERY_PER_CLASS = 50
"""Validation 1-NN searches at most this many training images per class (enough to rank epochs, and cheap)."""
DISTILL_TERMS = ("distill_embedding", "distill_relation", "metric_loss")
"""The terms of a distilled run's loss that each epoch records, unweighted (``DistillationLoss.last_terms``)."""

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
    if config.teacher is not None:  # the student sees its teacher's crop
        config = with_teacher_template(config, resolve_teacher(config.teacher))
    run = RunDir(args.out or get_settings().runs_dir / config.default_run_name())
    return config, run


def build_loss(config: TrainConfig, num_classes: int, teacher_dim: int | None = None) -> torch.nn.Module:
    """The loss module of ``config.loss`` (CosFace owns class weights, which the optimiser must also train); for a
    distilled run, the ``DistillationLoss`` that weighs it with the distillation terms (its projection to the
    teacher's ``teacher_dim``, when the student's differs, is trained too)."""
    if config.teacher is not None:
        metric = build_metric_loss(config, num_classes) if config.uses_metric_loss else None
        return DistillationLoss(config.distill_embedding, config.distill_relation, config.distill_distance, config.dim,
                                teacher_dim or config.dim, metric, config.metric_weight)
    return build_metric_loss(config, num_classes)


def build_metric_loss(config: TrainConfig, num_classes: int) -> torch.nn.Module:
    """The metric loss module of ``config.loss``."""
    if config.loss == "contrastive":
        return ContrastiveLoss(margin=config.loss_margin, pos_margin=config.pos_margin,
                               power=2.0 if config.hinge == "squared" else 1.0, reducer=config.reducer)
    if config.loss == "triplet":
        return TripletMarginLoss(margin=config.loss_margin, soft_margin=config.soft_margin)
    if config.loss == "cosface":
        return CosFaceLoss(num_classes, config.dim, margin=config.loss_margin, scale=config.scale)
    raise ValueError(f"unknown loss {config.loss!r}")


def build_miner(config: TrainConfig):
    """The triplet miner of ``config.miner`` (``None`` for the losses that need none)."""
    if config.loss != "triplet":
        return None
    name = config.miner
    kwargs = {"margin": config.loss_margin} if name in ("batch-all", "semi-hard") else {}
    if name == "random":
        kwargs = {"seed": config.seed}
    return miners.build_miner(name, **kwargs)


def build_sampler(
    config: TrainConfig, labels: np.ndarray, group: ProcessGroup = ProcessGroup()
) -> BalancedPairSampler | PKSampler | DistributedBatchSampler:
    """Balanced pairs for the contrastive loss (unless ``--pairs pk``); P x K batches for the others. Every batch holds
    ``2 * batch_size`` images and every epoch ``2 * pairs_per_epoch``, whatever the loss.

    In a distributed run every rank gets whole batches of that size, and an epoch still covers about
    ``2 * pairs_per_epoch`` images: ``world_size`` times fewer steps, each with ``world_size`` batches."""
    steps = math.ceil(config.pairs_per_epoch / config.batch_size / group.world_size)
    batches = steps * group.world_size
    if config.loss == "contrastive" and config.pairs != "pk":
        pairs = batches * config.batch_size if group.distributed else config.pairs_per_epoch
        sampler = BalancedPairSampler(labels, pairs, seed=config.seed, batch_size=config.batch_size)
    else:
        images_per_batch = 2 * config.batch_size
        if images_per_batch % config.images_per_class:
            raise ValueError(f"--images-per-class {config.images_per_class} must divide the {images_per_batch} images of a batch")
        sampler = PKSampler(
            labels, p=images_per_batch // config.images_per_class, k=config.images_per_class, batches_per_epoch=batches,
            seed=config.seed,
        )
    return DistributedBatchSampler(sampler, group.rank, group.world_size) if group.distributed else sampler


def gathers_batch(config: TrainConfig) -> bool:
    """Whether the loss sees every rank's embeddings: the triplet miners (more classes, positives and negatives
    to mine) and the all-pairs contrastive loss do; CosFace and drawn pairs are sums over single images or pairs,
    which DistributedDataParallel's gradient averaging already makes global, and so are the distillation terms."""
    return config.uses_metric_loss and (config.loss == "triplet" or (config.loss == "contrastive" and config.pairs != "drawn"))


def batch_loss(
    config: TrainConfig, loss_fn: torch.nn.Module, miner, embeddings: torch.Tensor, labels: torch.Tensor,
    distilled: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of one batch. For drawn pairs, rows ``i`` and ``i + n`` of the batch are the pairs. A distilled
    run's ``loss_fn`` is a ``DistillationLoss`` and ``distilled`` its terms: the weighted metric loss is added."""
    if distilled is not None:
        if loss_fn.metric is None:
            return distilled
        return loss_fn.add_metric(distilled, batch_loss(config, loss_fn.metric, miner, embeddings, labels))
    if config.loss == "contrastive":
        if config.pairs != "drawn":
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


def move_schedule(scheduler: torch.optim.lr_scheduler.LambdaLR, schedule, step: int) -> None:
    """Put ``scheduler`` (a ``LambdaLR`` of ``schedule``) at ``step``: the learning rates become the peak ones times
    ``schedule(step)``, as if ``step`` optimiser steps had been taken."""
    scheduler.last_epoch = step
    for param_group, base_lr in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        param_group["lr"] = base_lr * schedule(step)
    scheduler._last_lr = [g["lr"] for g in scheduler.optimizer.param_groups]


def batch_diagnostics(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, float]:
    """Mean distance of the batch's positive pairs, of its negative pairs, and the embedding's spread (mean
    standard deviation per dimension; near zero when every image lands on one point)."""
    i, j = torch.triu_indices(len(labels), len(labels), offset=1, device=embeddings.device)
    d = pair_distance(embeddings[i], embeddings[j])
    same = labels[i] == labels[j]
    pos = d[same].mean().item() if same.any() else float("nan")
    neg = d[~same].mean().item() if (~same).any() else float("nan")
    return pos, neg, embeddings.std(dim=0).mean().item()


@dataclass
class Runtime:
    """Where the training runs: the device, the mixed-precision type (``None``: float32), the gradient scaler
    that float16 needs, and this process's place in a distributed run."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    group: ProcessGroup = field(default_factory=ProcessGroup)

    @classmethod
    def create(cls, config: TrainConfig, group: ProcessGroup = ProcessGroup()) -> "Runtime":
        """The device of ``config.device`` for this rank, and mixed precision there when ``config.amp`` and the
        device is a GPU: bfloat16 where the GPU supports it (no loss scaling needed), else float16 with a
        ``GradScaler``. The CPU trains in float32."""
        device = select_device(config.device, group)
        if device.type != "cuda" or not config.amp:
            return cls(device=device, group=group)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return cls(device=device, amp_dtype=torch.bfloat16, group=group)
        return cls(device=device, amp_dtype=torch.float16, scaler=torch.amp.GradScaler("cuda"), group=group)

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        precision = "float32" if self.amp_dtype is None else f"mixed precision ({str(self.amp_dtype).removeprefix('torch.')})"
        where = f"{self.group.world_size} processes, " if self.group.distributed else ""
        return f"{where}{self.device}, {precision}"


def train_step(
    config: TrainConfig,
    net: torch.nn.Module,
    augment: torch.nn.Module,
    loss_fn: torch.nn.Module,
    miner,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    images: torch.Tensor,
    labels: torch.Tensor,
    runtime: Runtime | None = None,
    targets: torch.Tensor | None = None,
) -> dict[str, Any]:
    """One optimiser step on one batch (uint8 images (N, H, W, 3) and their labels, on the CPU; for a distilled
    run, ``targets``: the teacher's embeddings of those images).

    In a distributed run ``net`` is the DistributedDataParallel module, ``images`` this rank's batch, and the loss
    covers the gathered global batch where ``gathers_batch(config)`` (the distillation terms: this rank's images).
    Returns the loss, the active fraction, each distillation term, and the global batch's detached embeddings and
    labels for the diagnostics."""
    runtime = runtime or Runtime()
    group = runtime.group
    labels = labels.to(runtime.device, non_blocking=True)
    with runtime.autocast():
        embeddings = net(augment(to_float_batch(images.to(runtime.device, non_blocking=True))))
    embeddings = embeddings.float()
    distilled = None if targets is None else loss_fn(embeddings, targets.to(runtime.device, non_blocking=True))
    if group.distributed and gathers_batch(config):
        embeddings, labels = group.gather(embeddings), group.gather(labels)
    loss = batch_loss(config, loss_fn, miner, embeddings, labels, distilled)
    optimizer.zero_grad(set_to_none=True)
    if runtime.scaler is not None:
        runtime.scaler.scale(loss).backward()
        group.average_gradients(loss_fn.parameters())
        runtime.scaler.step(optimizer)
        runtime.scaler.update()
    else:
        loss.backward()
        group.average_gradients(loss_fn.parameters())
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    terms = getattr(loss_fn, "last_terms", {})
    logged = torch.tensor([loss.item(), float(loss_fn.last_active_fraction), *terms.values()], device=runtime.device)
    loss_value, active, *term_values = group.mean(logged).tolist()
    embeddings = embeddings.detach()
    if group.distributed and not gathers_batch(config):
        embeddings, labels = group.gather(embeddings), group.gather(labels)
    return {"loss": loss_value, "active_fraction": active, **dict(zip(terms, term_values)), "embeddings": embeddings, "labels": labels}


def train_epoch(
    config: TrainConfig,
    net: torch.nn.Module,
    augment: torch.nn.Module,
    loss_fn: torch.nn.Module,
    miner,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    images: torch.Tensor,
    labels: torch.Tensor,
    sampler: BalancedPairSampler | PKSampler | DistributedBatchSampler,
    epoch: int,
    bar: tqdm | None = None,
    runtime: Runtime | None = None,
    targets: torch.Tensor | None = None,
) -> dict[str, float]:
    """One pass over this epoch's batches. Returns the mean loss and the diagnostics that reveal a collapse:
    positive and negative distances, the fraction of pairs or triplets still active, the embedding's spread
    (all over the global batch in a distributed run), and the images per second of every rank together; for a
    distilled run (``targets``: the teacher's embeddings of ``images``), the mean of each distillation term."""
    runtime = runtime or Runtime()
    net.train()
    augment.train()
    loss_fn.train()
    totals = dict.fromkeys(("loss", "pos_dist", "neg_dist", "active_fraction", "spread"), 0.0)
    n_batches = n_images = 0
    start = time.perf_counter()
    for rows in sampler.batches(epoch):
        rows = torch.from_numpy(rows)
        step = train_step(config, net, augment, loss_fn, miner, optimizer, scheduler, images[rows], labels[rows], runtime,
                          None if targets is None else targets[rows])
        with torch.no_grad():
            pos, neg, spread = batch_diagnostics(step["embeddings"], step["labels"])
        for key, value in (("loss", step["loss"]), ("pos_dist", pos), ("neg_dist", neg),
                           ("active_fraction", step["active_fraction"]), ("spread", spread),
                           *((term, step[term]) for term in DISTILL_TERMS if term in step)):
            totals[key] = totals.get(key, 0.0) + value
        n_batches += 1
        n_images += len(step["labels"])
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
    val_targets: np.ndarray | None = None,
) -> dict[str, float]:
    """Validation metrics: retrieval within the validation images and, for closed sets, 1-NN against a gallery;
    for a student as wide as its teacher (``val_targets``: the teacher's embeddings), their mean cosine."""
    val = embed_images(net, val_images)
    out = {f"val_{k}": v for k, v in retrieval_metrics(val, val_labels).items()}
    if val_targets is not None and val_targets.shape == val.shape:
        out["val_teacher_cos"] = float(np.mean(np.sum(val * val_targets, axis=1)))
    if gallery_images is not None:
        gallery = embed_images(net, gallery_images)
        predicted = knn_predict(gallery, gallery_labels, val, k=1)
        out["val_knn1_acc"] = float(np.mean(predicted == val_labels))
    return out


def main(args: argparse.Namespace) -> RunDir:
    config, _ = resolve_config(args)
    group = ProcessGroup.from_environment(backend_for(config.device))
    try:
        return fit(args, group)
    finally:
        group.close()


def fit(args: argparse.Namespace, group: ProcessGroup = ProcessGroup()) -> RunDir:
    """The whole run, in this process; under torchrun every rank calls it and rank 0 alone writes."""
    config, run = resolve_config(args)
    threads = config.threads or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    runtime = Runtime.create(config, group)
    teacher = resolve_teacher(config.teacher) if config.teacher is not None else None
    data = load_training_data(config, read_or_make_split(args, config, run, group, teacher), group, teacher)
    setup = build_training_setup(config, data.train, runtime, group, teacher.dim if teacher is not None else None)
    start_epoch, best, resuming = resume_from_last_checkpoint(args, config, run, setup, runtime, group)
    if resuming and start_epoch >= config.epochs:
        return run
    if not resuming and group.distributed:
        torch.manual_seed(config.seed + 1000 * group.rank)  # the same initial weights, a different augmentation
    group.broadcast(setup.loss_fn.parameters())  # CosFace's class weights live outside DDP: rank 0's, everywhere
    model = wrap_for_distributed(setup, runtime, group)
    if group.is_main:
        print_run_header(config, run, data, setup, runtime, group)
    if config.epochs == 0 and group.is_main and not resuming:
        best = save_untrained(run, config, setup.net, data.val_images, data.val.labels, data.gallery_images,
                              data.gallery_labels, data.select)
    best = train_epochs(config, run, data, setup, model, runtime, group, start_epoch, best)
    check_ranks_agree(setup, group)
    if group.is_main:
        print(f"best {data.select} {best:.4f}; checkpoints in {run.checkpoints}")
    return run


@dataclass
class TrainingData:
    """The images a run trains and validates on, in memory: the training part as tensors, the validation part,
    and (closed sets) the capped gallery of training images that validation 1-NN searches."""

    train: ImageSet
    val: ImageSet
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: np.ndarray
    gallery_images: np.ndarray | None
    gallery_labels: np.ndarray | None
    select: str
    """The validation metric that picks the best checkpoint."""
    train_targets: torch.Tensor | None = None
    val_targets: np.ndarray | None = None
    """A distilled run's teacher embeddings of the training and the validation images (row for row)."""


@dataclass
class TrainingSetup:
    """What one run trains with: the network, the augmentation, the loss, the miners, the batch sampler, the
    optimiser and its learning-rate schedule."""

    net: torch.nn.Module
    augment: torch.nn.Module
    loss_fn: torch.nn.Module
    miner: Any
    warmup_miner: Any
    sampler: BalancedPairSampler | PKSampler | DistributedBatchSampler
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    schedule: Any
    scheduler: torch.optim.lr_scheduler.LambdaLR


def read_or_make_split(
    args: argparse.Namespace, config: TrainConfig, run: RunDir, group: ProcessGroup, teacher: Teacher | None = None,
) -> dict[str, ImageSet]:
    """The run's parts (train, val, test): read from the run when resuming; for a new run made from the dataset
    and written, with the config (and a distilled run's teacher identity), by rank 0 (an existing run without
    ``--resume`` is an error; so is resuming a distilled run whose teacher has changed)."""
    if args.resume:
        check_same_teacher(run, teacher)
        return run.split(root=None)
    if run.exists():
        raise ValueError(f"{run.path} already holds a run: pass --resume to continue it, or choose another --out")
    settings = get_settings()
    parts = make_parts(config.dataset, settings.data_dir, config.min_images, config.seed, config.protocol, config.extra_data)
    group.barrier()  # every rank has seen that the run is new before rank 0 creates it
    if group.is_main:
        run.write_config(config)
        save_split(run.split_file, config.dataset, parts)
        if teacher is not None:
            run.teacher_file.write_text(json.dumps({"teacher": teacher.spec, "sha256": teacher.sha256}, indent=2) + "\n")
    return parts


def check_same_teacher(run: RunDir, teacher: Teacher | None) -> None:
    """A distilled run resumes with the teacher it started with (the SHA-256 ``teacher.json`` recorded)."""
    if teacher is None or not run.teacher_file.exists():
        return
    recorded = json.loads(run.teacher_file.read_text())
    if recorded["sha256"] != teacher.sha256:
        raise ValueError(f"{run.path} was distilled from {recorded['teacher']} (SHA-256 {recorded['sha256'][:12]}), but "
                         f"--teacher {teacher.spec} is now {teacher.sha256[:12]}: start a new run")


def load_training_data(
    config: TrainConfig, parts: dict[str, ImageSet], group: ProcessGroup, teacher: Teacher | None = None,
) -> TrainingData:
    """The training and validation images from the decoded-image cache, and a distilled run's teacher embeddings
    of them from the teacher cache (``model.teacher``). The first run at a size decodes the images into the cache
    (and the teacher embeds what its cache lacks): rank 0 first, then the first rank of every other machine (in
    case its disk is not rank 0's), then every rank reads them."""
    settings = get_settings()
    train, val = parts["train"], parts["val"]
    targets = None
    for builders in (group.is_main, group.local_rank == 0 and not group.is_main, True):
        if builders:
            cache = dataset_cache(config.dataset, settings.data_dir, settings.cache_dir, config.image_size, config.backbone,
                                  config.extra_data, face_template=config.face_template)
            if teacher is not None:
                targets = teacher_embeddings(teacher, lambda: teacher.images(settings.data_dir, settings.cache_dir, config.extra_data),
                                             train.paths + val.paths, settings.cache_dir)
        group.barrier()
    train_images = torch.from_numpy(cache.take(train.paths))
    closed = is_closed_set(config.dataset, config.protocol)
    gallery = capped_per_class(train.labels, VAL_GALLERY_PER_CLASS, config.seed) if closed else None
    return TrainingData(
        train=train, val=val, train_images=train_images, train_labels=torch.from_numpy(train.labels),
        val_images=cache.take(val.paths),
        gallery_images=train_images[gallery].numpy() if closed else None,
        gallery_labels=train.labels[gallery] if closed else None,
        select="val_knn1_acc" if closed else "val_map_at_r",
        train_targets=None if targets is None else torch.from_numpy(targets[: len(train)]),
        val_targets=None if targets is None else targets[len(train) :],
    )


def build_training_setup(
    config: TrainConfig, train: ImageSet, runtime: Runtime, group: ProcessGroup, teacher_dim: int | None = None,
) -> TrainingSetup:
    """The network, augmentation, loss, miners, sampler, optimiser and schedule of ``config``, on the run's
    device (in this order: the random initial weights depend on it)."""
    net = EmbeddingNet.from_config(config).to(runtime.device)
    augment = augmentation_for(config.dataset).to(runtime.device)
    loss_fn = build_loss(config, train.num_classes, teacher_dim).to(runtime.device)
    miner = build_miner(config)
    warmup_miner = build_miner(replace(config, miner="semi-hard")) if config.miner_warmup else None
    sampler = build_sampler(config, train.labels, group)
    steps_per_epoch = len(sampler.batches(0))
    optimizer = torch.optim.AdamW([*net.parameters(), *loss_fn.parameters()], lr=config.lr, weight_decay=config.weight_decay)
    schedule = lr_schedule(config.epochs * steps_per_epoch, min(steps_per_epoch, 100))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return TrainingSetup(net, augment, loss_fn, miner, warmup_miner, sampler, steps_per_epoch, optimizer, schedule, scheduler)


def resume_from_last_checkpoint(
    args: argparse.Namespace, config: TrainConfig, run: RunDir, setup: TrainingSetup, runtime: Runtime, group: ProcessGroup
) -> tuple[int, float, bool]:
    """With ``--resume`` and a last checkpoint, put back the weights, optimiser, scaler, random state and schedule
    from it. Returns the first epoch to train, the best validation score so far, and whether it resumed. Every
    rank must see the same checkpoint (a shared filesystem)."""
    if group.is_main:
        run.checkpoints.mkdir(parents=True, exist_ok=True)
    resuming = bool(args.resume and run.checkpoint("last").exists())
    if len(set(group.all_objects(resuming))) > 1:
        raise ValueError(
            f"only some ranks see {run.checkpoint('last')}: with several machines, --out must be on a filesystem "
            "that every machine shares (rank 0 writes the run, every rank resumes from it)"
        )
    if not resuming:
        return 0, -math.inf, False
    state = torch.load(run.checkpoint("last"), map_location="cpu", weights_only=False)
    setup.net.load_state_dict(state["model"])
    if "optimizer" in state:  # not the untrained network of --epochs 0
        setup.loss_fn.load_state_dict(state["loss"])
        setup.optimizer.load_state_dict(state["optimizer"])
        if runtime.scaler is not None and state.get("scaler"):
            runtime.scaler.load_state_dict(state["scaler"])
        restore_rng(state, group)
    start_epoch, best = state["epoch"] + 1, state["best"]
    # The steps per epoch change with the number of processes: the schedule goes on from this run's epochs,
    # not from the saved step count.
    move_schedule(setup.scheduler, setup.schedule, start_epoch * setup.steps_per_epoch)
    if start_epoch >= config.epochs and group.is_main:
        print(f"{run.path} has finished all {config.epochs} epochs; nothing to resume (raise --epochs to go on)")
    return start_epoch, best, True


def wrap_for_distributed(setup: TrainingSetup, runtime: Runtime, group: ProcessGroup) -> torch.nn.Module:
    """The module that trains: the network itself, or in a distributed run its DistributedDataParallel wrapper
    (with synchronised batch norm on GPUs, which replaces ``setup.net``)."""
    if not group.distributed:
        return setup.net
    if runtime.device.type == "cuda":
        setup.net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(setup.net)
    return DistributedDataParallel(setup.net, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None)


def print_run_header(config: TrainConfig, run: RunDir, data: TrainingData, setup: TrainingSetup, runtime: Runtime, group: ProcessGroup) -> None:
    """What is trained where: the run, its data, the device and threads, the miner warm-up, the distributed batch."""
    print(f"training {config.default_run_name()} in {run.path}")
    print(f"  train {describe(data.train)}; val {describe(data.val)}; {runtime.describe()}; {torch.get_num_threads()} threads")
    if config.teacher is not None:
        metric = f"{config.loss} x {config.metric_weight:g}" if config.uses_metric_loss else "off"
        print(f"  distilling {config.teacher}: embedding ({config.distill_distance}) x {config.distill_embedding:g}, "
              f"relation x {config.distill_relation:g}, metric loss {metric}; input {run_crop(config).tag}")
    if config.miner_warmup:
        print(f"  semi-hard triplets for the first {config.miner_warmup} epoch(s), then {config.miner}")
    if group.distributed:
        print(f"  every step: {group.world_size} batches of {len(setup.sampler.batches(0)[0])} images, one per rank")


def train_epochs(
    config: TrainConfig, run: RunDir, data: TrainingData, setup: TrainingSetup, model: torch.nn.Module,
    runtime: Runtime, group: ProcessGroup, start_epoch: int, best: float,
) -> float:
    """Train from ``start_epoch`` to the last epoch; after each, rank 0 validates, records the metrics, saves the
    checkpoints and reports (the other ranks wait). Returns the best validation score."""
    writer = SummaryWriter(str(run.tensorboard)) if group.is_main else None
    bar = tqdm(total=config.epochs * setup.steps_per_epoch, initial=start_epoch * setup.steps_per_epoch, unit="batch",
               desc="train", disable=not group.is_main)
    for epoch in range(start_epoch, config.epochs):
        stats = train_epoch(
            config, model, setup.augment, setup.loss_fn, setup.warmup_miner if epoch < (config.miner_warmup or 0) else setup.miner,
            setup.optimizer, setup.scheduler, data.train_images, data.train_labels, setup.sampler, epoch, bar, runtime,
            data.train_targets,
        )
        rng_states = group.all_objects(rng_state(runtime))
        if not group.is_main:
            group.barrier()  # rank 0 validates and saves
            continue
        stats.update(evaluate(setup.net, data.val_images, data.val.labels, data.gallery_images, data.gallery_labels, data.val_targets))
        record = {"epoch": epoch + 1, "lr": setup.scheduler.get_last_lr()[0], **stats}
        write_epoch_metrics(run, writer, record)
        improved = record[data.select] > best
        if improved:
            best = record[data.select]
        save_epoch_checkpoints(config, run, setup, runtime, epoch, best, improved, rng_states)
        report_epoch(config, bar, record, data.select, improved)
        group.barrier()
    bar.close()
    if writer is not None:
        writer.close()
    return best


def write_epoch_metrics(run: RunDir, writer: SummaryWriter, record: dict[str, float]) -> None:
    """Append one epoch's record to the run's metrics file and to TensorBoard."""
    with open(run.metrics_file, "a") as f:
        f.write(json.dumps(record) + "\n")
    for key, value in record.items():
        if key != "epoch":
            writer.add_scalar(key, value, record["epoch"])
    writer.flush()


def save_epoch_checkpoints(
    config: TrainConfig, run: RunDir, setup: TrainingSetup, runtime: Runtime, epoch: int, best: float, improved: bool,
    rng_states: list[dict[str, torch.Tensor]],
) -> None:
    """The best checkpoint (when this epoch ``improved``) and the last one, with everything a resume needs."""
    if improved:
        atomic_torch_save({"model": setup.net.state_dict(), "epoch": epoch, "config": config.to_dict()}, run.checkpoint("best"))
    atomic_torch_save(
        {
            "model": setup.net.state_dict(), "loss": setup.loss_fn.state_dict(), "optimizer": setup.optimizer.state_dict(),
            "scheduler": setup.scheduler.state_dict(), "torch_rng": torch.get_rng_state(), "rng_per_rank": rng_states,
            "scaler": runtime.scaler.state_dict() if runtime.scaler is not None else None,
            "epoch": epoch, "best": best, "config": config.to_dict(),
        },
        run.checkpoint("last"),
    )


def report_epoch(config: TrainConfig, bar: tqdm, record: dict[str, float], select: str, improved: bool) -> None:
    """One line per epoch under the progress bar, and a warning with advice when the embedding has collapsed."""
    bar.write(
        f"epoch {record['epoch']}/{config.epochs}  loss {record['loss']:.4f}  d+ {record['pos_dist']:.3f}  "
        f"d- {record['neg_dist']:.3f}  active {record['active_fraction']:.2f}  "
        + "".join(f"{term} {record[term]:.4f}  " for term in (*DISTILL_TERMS, "val_teacher_cos") if term in record)
        + f"{select} {record[select]:.4f}" + ("  *" if improved else "")
    )
    if record["spread"] < COLLAPSE_SPREAD:
        bar.write(
            f"  warning: the embedding has collapsed (spread {record['spread']:.4f} < {COLLAPSE_SPREAD}): every "
            "image lands near one point; "
            + ("try a warm-up on easier triplets (--miner-warmup 3), an easier miner (semi-hard, batch-all) or "
               "another margin: a lower --lr slowed batch-hard's collapse on faces but did not stop it "
               "(docs/results-notes.md)" if config.loss == "triplet" else "try another --margin, --lr or loss")
        )


def check_ranks_agree(setup: TrainingSetup, group: ProcessGroup) -> None:
    """In a distributed run, every rank must end with the very weights rank 0 saved."""
    if not group.distributed:
        return
    sums = group.all_objects([float(p.detach().double().sum()) for p in [*setup.net.parameters(), *setup.loss_fn.parameters()]])
    if any(other != sums[0] for other in sums[1:]):
        raise RuntimeError("the ranks ended with different weights: the distributed training went wrong")


def save_untrained(
    run: RunDir, config: TrainConfig, net: EmbeddingNet, val_images: np.ndarray, val_labels: np.ndarray,
    gallery_images: np.ndarray | None, gallery_labels: np.ndarray | None, select: str,
) -> float:
    """``--epochs 0``: the network as it starts (a pretrained face backbone as its publisher trained it) becomes
    the run's model, validated once (epoch 0 of the metrics), so that it is evaluated, indexed and served like any
    trained run. Returns its validation score."""
    record = {"epoch": 0, **evaluate(net, val_images, val_labels, gallery_images, gallery_labels)}
    with open(run.metrics_file, "a") as f:
        f.write(json.dumps(record) + "\n")
    state = {"model": net.state_dict(), "epoch": -1, "config": config.to_dict()}
    atomic_torch_save(state, run.checkpoint("best"))
    atomic_torch_save({**state, "best": record[select]}, run.checkpoint("last"))
    print(f"--epochs 0: the untrained network is the run's model ({select} {record[select]:.4f})")
    return record[select]


def rng_state(runtime: Runtime) -> dict[str, torch.Tensor]:
    """This process's random state (the augmentation draws from it), saved with each checkpoint."""
    state = {"cpu": torch.get_rng_state()}
    if runtime.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(runtime.device)
    return state


def restore_rng(checkpoint: dict[str, Any], group: ProcessGroup) -> None:
    """Put back this rank's random state from a checkpoint; a run resumed on a different number of processes
    starts each rank from a fresh seed instead."""
    per_rank = checkpoint.get("rng_per_rank")
    if per_rank is not None and len(per_rank) == group.world_size:
        torch.set_rng_state(per_rank[group.rank]["cpu"])
        if "cuda" in per_rank[group.rank] and torch.cuda.is_available():
            torch.cuda.set_rng_state(per_rank[group.rank]["cuda"])
    elif per_rank is None and not group.distributed:
        torch.set_rng_state(checkpoint["torch_rng"])
    else:
        torch.manual_seed(checkpoint["config"]["seed"] + 1000 * group.rank + 7919 * (checkpoint["epoch"] + 1))


def describe(images: ImageSet) -> str:
    counts = images.class_counts()
    return f"{int((counts > 0).sum())} classes / {len(images)} images"
