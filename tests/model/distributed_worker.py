"""A few training steps, distributed or not, saving the weights after each step (run by test_distributed.py).

Under ``torchrun --nproc-per-node W`` every rank trains a DistributedDataParallel network on its own batches of a
``DistributedBatchSampler``. With ``--reference --world-size W`` a single process trains the same network on
each step's global batch (every rank's batch, concatenated). BatchNorm on the CPU normalises each rank's batch
on its own (SyncBatchNorm needs GPUs), so the reference embeds the global batch in the ranks' chunks: the same
arithmetic as the distributed run, with the loss and the miner over the whole global batch.

Each process writes ``<out>/weights-<rank or "reference">.pt``: a list, per step, of the network's parameters and
of the loss's parameters (CosFace's class weights).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from model.config import TrainConfig
from model.distributed import ProcessGroup
from model.networks import EmbeddingNet
from model.train import Runtime, build_loss, build_miner, build_sampler, train_step

CLASSES, PER_CLASS, SIZE = 8, 6, 32


class Chunked(nn.Module):
    """``net`` applied to ``chunks`` equal parts of the batch, as the ranks of a distributed run would."""

    def __init__(self, net: nn.Module, chunks: int) -> None:
        super().__init__()
        self.net, self.chunks = net, chunks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(part) for part in x.chunk(self.chunks)])


def snapshot(net: nn.Module, loss_fn: nn.Module) -> dict[str, torch.Tensor]:
    out = {f"net.{k}": v.detach().clone() for k, v in net.named_parameters()}
    out.update({f"loss.{k}": v.detach().clone() for k, v in loss_fn.named_parameters()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--loss", default="triplet")
    parser.add_argument("--miner", default=None, help="triplet only (default: semi-hard)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--world-size", type=int, default=2, help="with --reference: the distributed run to match")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = TrainConfig(loss=args.loss, miner=args.miner, backbone="small_cnn", pretrained=False, dim=8,
                         image_size=SIZE, batch_size=8, images_per_class=None if args.loss == "contrastive" else 4, pairs_per_epoch=8 * args.steps * args.world_size, lr=1e-2)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, size=(CLASSES * PER_CLASS, SIZE, SIZE, 3), dtype=np.uint8))
    labels = torch.arange(CLASSES).repeat_interleave(PER_CLASS)

    group = ProcessGroup() if args.reference else ProcessGroup.from_environment("gloo")
    torch.manual_seed(0)
    net = EmbeddingNet("small_cnn", config.dim, pretrained=False)
    loss_fn = build_loss(config, CLASSES)
    optimizer = torch.optim.SGD([*net.parameters(), *loss_fn.parameters()], lr=config.lr)
    if args.reference:
        model = Chunked(net, args.world_size)
        distributed_sampler = build_sampler(config, labels.numpy(), ProcessGroup(0, args.world_size, 0))
        batches = distributed_sampler.global_batches(0)
    else:
        model = DistributedDataParallel(net)
        batches = build_sampler(config, labels.numpy(), group).batches(0)
    runtime = Runtime(group=group)
    miner = build_miner(config)

    weights = []
    for rows in batches[: args.steps]:
        rows = torch.from_numpy(rows)
        train_step(config, model, nn.Identity(), loss_fn, miner, optimizer, None, images[rows], labels[rows], runtime)
        weights.append(snapshot(net, loss_fn))
    name = "reference" if args.reference else str(group.rank)
    torch.save(weights, Path(args.out) / f"weights-{name}.pt")
    group.close()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
