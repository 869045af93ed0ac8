"""Training speed in one process and in several under torchrun, with the real training command.

    python bench/train_scaling.py [--config configs/imagenet-semihard.toml] [--epochs 2] [--nproc 1 2] [--device auto]

For each process count N it runs ``doppelganger train --config CONFIG --epochs E`` (under
``torchrun --standalone --nproc-per-node N`` when N > 1) into a temporary run directory, then prints, from the
run's metrics.jsonl: training images per second over every rank (the epochs after the first, which pays for
start-up), seconds per epoch (training and rank 0's validation), and the last epoch's validation figure.
On a CPU every process gets cores / N threads, so N processes share the same cores one process used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(config: str, epochs: int, nproc: int, device: str, out: Path) -> tuple[float, list[dict]]:
    args = ["-m", "app.cli", "train", "--config", config, "--epochs", str(epochs), "--device", device, "--out", str(out)]
    if nproc > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    else:
        command = [sys.executable, *args]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return seconds, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/imagenet-semihard.toml", help="the training config to time")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the first is not timed)")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch pays for start-up and is not timed")

    print(f"{args.config}, {args.epochs} epochs per run, {os.cpu_count()} CPU cores, device {args.device}")
    print("| processes | train img/s (all ranks) | train s / epoch | wall s | last val figure |")
    print("|---:|---:|---:|---:|---|")
    baseline = None
    for nproc in args.nproc:
        with tempfile.TemporaryDirectory() as tmp:
            wall, records = train(args.config, args.epochs, nproc, args.device, Path(tmp) / "run")
        timed = records[1:]
        speed = sum(r["images_per_second"] for r in timed) / len(timed)
        per_epoch = sum(r["train_seconds"] for r in timed) / len(timed)
        metric = next(k for k in ("val_knn1_acc", "val_map_at_r") if k in records[-1])
        baseline = baseline or speed
        print(f"| {nproc} | {speed:.0f} ({speed / baseline:.2f}x) | {per_epoch:.1f} | {wall:.0f} | "
              f"{metric} {records[-1][metric]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
