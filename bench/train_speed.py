"""Training and embedding speed of each backbone on this machine: images per second, printed as a table.

    python bench/train_speed.py [--size 64] [--batch 128] [--steps 5]

Training speed is one forward and backward pass of a batch of images plus an AdamW step (what `doppelganger
train` does per batch, augmentation included); embedding speed is a forward pass in inference mode.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from model.networks import BACKBONES, EmbeddingNet
from model.transforms import BatchAugment


def measure(backbone: str, size: int, batch: int, steps: int) -> tuple[float, float]:
    net = EmbeddingNet(backbone, dim=64, pretrained=False)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    augment = BatchAugment(hflip=True)
    images = torch.rand(batch, 3, size, size)
    net.train()
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        loss = net(augment(images)).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train = batch * steps / (time.perf_counter() - start)
    net.eval()
    with torch.inference_mode():
        net(images)
        start = time.perf_counter()
        for _ in range(steps):
            net(images)
    embed = batch * steps / (time.perf_counter() - start)
    return train, embed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="input size in pixels")
    parser.add_argument("--batch", type=int, default=128, help="images per batch")
    parser.add_argument("--steps", type=int, default=5, help="timed batches per backbone")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"{torch.get_num_threads()} threads, input {args.size}x{args.size}, batch {args.batch}, {args.steps} timed batches")
    print("| backbone | parameters | train img/s | embed img/s |")
    print("|---|---:|---:|---:|")
    for name in args.backbones:
        params = sum(p.numel() for p in EmbeddingNet(name, 64, pretrained=False).parameters())
        train, embed = measure(name, args.size, args.batch, args.steps)
        print(f"| {name} | {params / 1e6:.1f}M | {train:.0f} | {embed:.0f} |", flush=True)


if __name__ == "__main__":
    main()
