"""Size and one-thread speed of the candidate students of a distilled run, beside their teacher.

    python bench/student_speed.py [--images 256] [--repeats 3] [--threads 1] [--only NAME ...] [--train-steps 3]

For every candidate (a backbone at an input size, 256-d like face_reid_0095): its parameters, the size of its ONNX
export in MB (what ``Embedder.from_run`` caches as ``best.onnx``), and milliseconds per face on ``--threads``
threads through ONNX Runtime and OpenVINO, at batch 1 (one request) and batch 64 (an index build): one warm-up
pass, then the median of ``--repeats`` passes over ``--images`` random faces. Weights do not change the speed, so
the ImageNet backbones are built untrained (nothing to fetch); the teacher needs its weights file.

With ``--train-steps N`` a second table gives each student's training cost per batch of 128 images (one
``train_step`` of a distilled run: augmentation, forward, embedding and relational terms, backward, AdamW) on
``--threads`` threads, as wall-clock seconds and as this process's CPU seconds, the median of N steps after one
warm-up. On a shared machine the wall clock is an upper bound; the CPU seconds of a one-thread run are what the
step costs a core, whatever else runs (no thread of ours waits on another).

Nothing here asserts; it prints Markdown tables. Other work on the cores makes every figure an upper bound.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from model.inference import Embedder, export_onnx
from model.networks import EmbeddingNet

CANDIDATES = {
    "face_reid_0095 (teacher)": ("face_reid_0095", 128, "none"),
    "mobilenet_v2 @ 128": ("mobilenet_v2", 128, "linear"),
    "mobilenet_v2 @ 112": ("mobilenet_v2", 112, "linear"),
    "mobilenet_v2 @ 96": ("mobilenet_v2", 96, "linear"),
    "mobilenet_v2 @ 64": ("mobilenet_v2", 64, "linear"),
    "small_cnn @ 96": ("small_cnn", 96, "linear"),
    "small_cnn @ 64": ("small_cnn", 64, "linear"),
}


def ms_per_face(embedder: Embedder, images: np.ndarray, repeats: int) -> float:
    embedder.embed(images[: embedder.batch_size])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        embedder.embed(images)
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256, help="faces per timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the median is shown)")
    parser.add_argument("--threads", type=int, default=1, help="threads of each runtime")
    parser.add_argument("--only", nargs="*", default=None, help=f"candidates to measure, among: {', '.join(CANDIDATES)}")
    parser.add_argument("--train-steps", type=int, default=0, help="also time this many training steps per student (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s), {args.images} faces per pass, median of {args.repeats}\n")
    print("| network | input | parameters | ONNX MB | ORT ms/face, batch 1 | ORT ms/face, batch 64 | OpenVINO ms/face, batch 1 | OpenVINO ms/face, batch 64 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (backbone, size, head) in CANDIDATES.items():
        if args.only and name not in args.only and backbone not in args.only:
            continue
        net = EmbeddingNet(backbone, 256, pretrained=False, head=head).eval()
        parameters = sum(p.numel() for p in net.parameters())
        megabytes = len(export_onnx(net, size)) / 1e6
        images = rng.integers(0, 256, size=(args.images, size, size, 3), dtype=np.uint8)
        row = [name, f"{size} px", f"{parameters / 1e6:.2f}M", f"{megabytes:.1f}"]
        for backend in ("onnx", "openvino"):
            for batch in (1, 64):
                embedder = Embedder(net, size, backend=backend, threads=args.threads, batch_size=batch)
                row.append(f"{ms_per_face(embedder, images if batch > 1 else images[: max(32, args.images // 4)], args.repeats):.2f}")
        print("| " + " | ".join(row) + " |", flush=True)
    if args.train_steps:
        train_table(args)


def train_table(args: argparse.Namespace) -> None:
    """Seconds per training batch of 128 images of each student, distilled (``model.train.train_step``)."""
    from model.config import TrainConfig
    from model.train import build_loss, train_step
    from model.transforms import augmentation_for

    print(f"\ntraining, {args.threads} thread(s), batch of 128 images, median of {args.train_steps} steps after one\n")
    print("| student | input | wall s / batch | CPU s / batch |")
    print("|---|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for name, (backbone, size, head) in CANDIDATES.items():
        if backbone in ("face_reid_0095",) or (args.only and name not in args.only and backbone not in args.only):
            continue
        config = TrainConfig(protocol="devtrain", teacher="face_reid_0095", backbone=backbone, dim=256, image_size=size)
        net = EmbeddingNet(backbone, 256, pretrained=False, head=head)
        loss_fn = build_loss(config, num_classes=2, teacher_dim=256)
        optimizer = torch.optim.AdamW([*net.parameters(), *loss_fn.parameters()], lr=1e-3)
        augment = augmentation_for("lfw")
        images = torch.from_numpy(rng.integers(0, 256, size=(128, size, size, 3), dtype=np.uint8))
        labels = torch.arange(128) // 2
        targets = torch.nn.functional.normalize(torch.randn(128, 256), dim=1)
        walls, cpus = [], []
        for step in range(args.train_steps + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            train_step(config, net, augment, loss_fn, None, optimizer, None, images, labels, targets=targets)
            if step:
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        print(f"| {name} | {size} px | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} |", flush=True)


if __name__ == "__main__":
    main()
