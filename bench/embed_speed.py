"""Embedding speed of a trained run on real LFW images, per backend and option, with the accuracy each keeps.

    python bench/embed_speed.py [RUN_DIR] [--images 2048] [--repeats 3]

RUN_DIR defaults to the newest closed-set LFW run under runs/ with a ``checkpoints/best.pt``. Three tables:

1. Embedding: images per second over ``--images`` images from the decoded-image cache (one warm-up pass, then
   the median of ``--repeats`` timed passes), for the old ``embed_images`` path (eager, batch 256) and each
   option: threads, batch size, channels-last memory format, batch norm folded into the convolutions (torch.fx,
   or a frozen TorchScript trace), ONNX Runtime in float32 and in int8.
2. Accuracy: for each numerically different option, the 1-NN accuracy on the run's test split (the training
   images as the gallery, as ``doppelganger evaluate`` computes it) and its difference from eager float32, and
   the largest absolute difference of any embedding coordinate from eager.
3. Index build, end to end: decode the 250x250 JPEGs, crop and resize (full-size decode, or JPEG DCT scaling with
   ``Image.draft``), in this process or a pool of processes, then embed with ``Embedder(backend="auto")``.

Nothing here asserts; it prints figures. Run it on an idle machine: other work on the cores makes every figure
meaningless.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from model.data.batch_decode import decode_chunks, decode_for_model, decoding_pool
from model.data.image_set import ImageSet
from model.data.tasks import dataset_cache, is_closed_set
from model.evaluation import accuracy, knn_predict, retrieval_metrics
from model.inference import Embedder, Uint8Input, embed_images, export_onnx, fuse_conv_bn, onnx_available
from model.run import RunDir
from model.settings import get_settings
from model.transforms import Preprocess, preprocess_for

Embed = Callable[[np.ndarray], np.ndarray]


def default_run() -> Path:
    """The newest closed-set LFW run with a best checkpoint (any run with one, if none is closed-set LFW)."""
    runs = sorted(Path(get_settings().runs_dir).glob("**/checkpoints/best.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
    dirs = [RunDir(p.parent.parent) for p in runs if (p.parent.parent / "config.json").exists()]
    if not dirs:
        sys.exit("no run with checkpoints/best.pt under runs/; pass RUN_DIR")
    for run in dirs:
        config = run.config()
        if config.dataset == "lfw" and is_closed_set(config.dataset, config.protocol):
            return run.path
    return dirs[0].path


def timed(embed: Embed, images: np.ndarray, repeats: int) -> float:
    """Images per second: one warm-up pass over the first 512 images, then the median of ``repeats`` passes."""
    embed(images[:512])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        embed(images)
        seconds.append(time.perf_counter() - start)
    return len(images) / statistics.median(seconds)


def batched(module: torch.nn.Module, batch: int, threads: int, uint8: bool = False, channels_last: bool = False) -> Embed:
    """Embedding with a torch module in inference mode: uint8 NHWC in when ``uint8``, else [0, 1] NCHW floats."""

    def embed(images: np.ndarray) -> np.ndarray:
        torch.set_num_threads(threads)
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch]))
                if not uint8:
                    x = x.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0)
                    if not channels_last:
                        x = x.contiguous()
                out.append(module(x).numpy())
        return np.concatenate(out)

    return embed


def jit_frozen(net: torch.nn.Module, size: int, optimize: bool) -> torch.nn.Module:
    wrapped = Uint8Input(net).eval()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapped, torch.zeros(8, size, size, 3, dtype=torch.uint8))
        return torch.jit.optimize_for_inference(traced) if optimize else torch.jit.freeze(traced)


def onnx_int8(net: torch.nn.Module, size: int, calibration: np.ndarray, static: bool) -> bytes:
    """The ONNX export quantised to int8: statically (QDQ, per channel, calibrated on ``calibration``) or
    dynamically (weights only)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"images": np.ascontiguousarray(calibration[i : i + 64])} for i in range(0, len(calibration), 64)])

        def get_next(self):
            return next(self.batches, None)

    logging.getLogger().setLevel(logging.ERROR)  # the quantiser warns that it leaves the uint8 input alone
    with tempfile.TemporaryDirectory() as tmp:
        fp32, prep, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "prep.onnx", Path(tmp) / "int8.onnx"
        fp32.write_bytes(export_onnx(net, size))
        quant_pre_process(str(fp32), str(prep))
        if static:
            quantize_static(str(prep), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        else:
            quantize_dynamic(str(prep), str(int8), weight_type=QuantType.QUInt8)
        return int8.read_bytes()


def onnx_embed(model: bytes, threads: int, batch: int) -> Embed:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def embed(images: np.ndarray) -> np.ndarray:
        out = [session.run(None, {"images": np.ascontiguousarray(images[i : i + batch])})[0] for i in range(0, len(images), batch)]
        emb = np.concatenate(out)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)

    return embed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run directory (default: the newest closed-set LFW run)")
    parser.add_argument("--images", type=int, default=2048, help="cached images per timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per option (the median is shown)")
    parser.add_argument("--files", type=int, default=1024, help="JPEG files per end-to-end pass")
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "accuracy", "decode"], help="tables to leave out")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cores = os.cpu_count() or 1
    run = RunDir(args.run_dir or default_run())
    config = run.config()
    settings = get_settings()
    cache = dataset_cache(config.dataset, settings.data_dir, settings.cache_dir, config.image_size, config.backbone,
                          face_template=config.face_template)
    parts = run.split()
    train, test = parts["train"], parts["test"]
    closed = is_closed_set(config.dataset, config.protocol)
    rng = np.random.default_rng(0)
    sample = cache.take([cache.paths[i] for i in np.sort(rng.choice(len(cache.paths), min(args.images, len(cache.paths)), replace=False))])
    net = run.load_model()
    print_header(run, sample, cores, args.repeats)
    options = embedding_options(run, net, cache.take(train.paths[:256]) if onnx_available() else None, cores)
    embedders = speed_table(options, sample, args.repeats, cores, timing="speed" not in args.skip)
    torch.set_num_threads(cores)
    if "accuracy" not in args.skip:
        accuracy_table(embedders, cache.take(train.paths), cache.take(test.paths), train, test, closed)
    if "decode" not in args.skip:
        files = [str(train.root / p) for p in (train.paths + test.paths)[: args.files]]
        preprocess = preprocess_for(config.dataset, config.image_size)
        embedder = Embedder(net, config.image_size, "auto", cores, batch_size=256)
        decode_tables(files, preprocess, net, embedder, cores, args.repeats)
        if "accuracy" not in args.skip:
            decode_accuracy(preprocess, embedder, train, test, closed)


def metric_name(closed: bool) -> str:
    return "1-NN accuracy" if closed else "P@1 within test"


def split_score(closed: bool, train: ImageSet, test: ImageSet, test_x: np.ndarray, embed_train: Callable[[], np.ndarray]) -> float:
    """The run's test metric: closed sets, 1-NN accuracy against the training images (``embed_train()``); open
    sets, P@1 within the test images."""
    if closed:
        return accuracy(test.labels, knn_predict(embed_train(), train.labels, test_x, k=1))
    return retrieval_metrics(test_x, test.labels)["p_at_1"]


def print_header(run: RunDir, sample: np.ndarray, cores: int, repeats: int) -> None:
    """The run, the machine and the library versions the figures are for."""
    config = run.config()
    size = config.image_size
    print(f"run {run.path} ({config.backbone}, dim {config.dim}, {size}x{size}); {cores} cores; torch {torch.__version__}", end="")
    if onnx_available():
        import onnxruntime

        print(f", onnxruntime {onnxruntime.__version__}", end="")
    print(f"\n{len(sample)} cached images per pass, median of {repeats} passes after a warm-up\n")


def embedding_options(run: RunDir, net: torch.nn.Module, calibration: np.ndarray | None, cores: int) -> list[tuple[str, str, Callable[[], Embed]]]:
    """The options to time, as (name, accuracy group, factory of the embedding function); the ONNX ones when
    ONNX Runtime is installed (``calibration``: the images the static int8 quantisation is calibrated on)."""
    size = run.config().image_size
    fx = fuse_conv_bn(net)
    net_cl = run.load_model().to(memory_format=torch.channels_last)
    options: list[tuple[str, str, Callable[[], Embed]]] = [  # (name, accuracy group, factory)
        ("eager, batch 256, 2 threads (old embed_images)", "eager", lambda: (torch.set_num_threads(cores), lambda x: embed_images(net, x))[1]),
        ("eager, 1 thread", "eager", lambda: batched(net, 256, 1, channels_last=True)),
        ("eager, NCHW-contiguous input", "eager", lambda: batched(net, 256, cores)),
        ("+ channels_last weights", "channels_last", lambda: batched(net_cl, 256, cores, channels_last=True)),
        ("+ BN folded (torch.fx)", "fx", lambda: batched(fx, 256, cores, channels_last=True)),
        ("+ BN folded + channels_last (Embedder torch)", "fx_cl", lambda: Embedder(net, size, "torch", cores, batch_size=256).embed),
        ("  same, 1 thread", "fx_cl", lambda: Embedder(net, size, "torch", 1, batch_size=256).embed),
        ("  same, batch 64", "fx_cl", lambda: Embedder(net, size, "torch", cores, batch_size=64).embed),
        ("  same, batch 512", "fx_cl", lambda: Embedder(net, size, "torch", cores, batch_size=512).embed),
        ("TorchScript trace + freeze", "jit", lambda: batched(jit_frozen(net, size, False), 256, cores, uint8=True)),
        ("TorchScript trace + optimize_for_inference", "jit_ofi", lambda: batched(jit_frozen(net, size, True), 256, cores, uint8=True)),
    ]
    if calibration is None:
        print("onnxruntime or onnx is not installed: ONNX rows skipped\n")
        return options
    fp32 = export_onnx(net, size)
    return options + [
        ("ONNX Runtime fp32 (Embedder onnx)", "onnx", lambda: Embedder(net, size, "onnx", cores, batch_size=256).embed),
        ("  same, 1 thread", "onnx", lambda: onnx_embed(fp32, 1, 256)),
        ("  same, batch 64", "onnx", lambda: onnx_embed(fp32, cores, 64)),
        ("  same, batch 512", "onnx", lambda: onnx_embed(fp32, cores, 512)),
        ("ONNX Runtime int8, static QDQ per channel", "int8_static", lambda: onnx_embed(onnx_int8(net, size, calibration, True), cores, 256)),
        ("ONNX Runtime int8, dynamic", "int8_dynamic", lambda: onnx_embed(onnx_int8(net, size, calibration, False), cores, 256)),
    ]


def speed_table(options: list[tuple[str, str, Callable[[], Embed]]], sample: np.ndarray, repeats: int, cores: int, timing: bool) -> dict[str, Embed]:
    """Table 1: the images per second of each option on ``sample`` (when ``timing``). Returns the first embedding
    function of each accuracy group."""
    embedders: dict[str, Embed] = {}
    if timing:
        print("| option | threads | batch | img/s | vs old |")
        print("|---|---:|---:|---:|---:|")
        baseline = None
    for name, group, factory in options:
        embed = factory()
        embedders.setdefault(group, embed)
        if not timing:
            continue
        rate = timed(embed, sample, repeats)
        baseline = baseline or rate
        threads = 1 if "1 thread" in name else cores
        batch = 64 if "batch 64" in name else 512 if "batch 512" in name else 256
        print(f"| {name} | {threads} | {batch} | {rate:.0f} | {rate / baseline:.2f}x |", flush=True)
    return embedders


def accuracy_table(
    embedders: dict[str, Embed], train_images: np.ndarray, test_images: np.ndarray, train: ImageSet, test: ImageSet, closed: bool
) -> None:
    """Table 2: each group's test metric, its difference from the first group (eager float32), and the largest
    difference of any embedding coordinate from it."""
    print(f"\nAccuracy on the test split ({len(test)} images; gallery: {len(train)} training images)\n")
    print(f"| option | {metric_name(closed)} | difference (points) | max abs embedding difference |")
    print("|---|---:|---:|---:|")
    reference = None
    for group, embed in embedders.items():
        test_x = embed(test_images)
        score = split_score(closed, train, test, test_x, lambda: embed(train_images))
        if reference is None:
            reference = (score, test_x)
        diff = np.abs(test_x - reference[1]).max()
        print(f"| {group} | {100 * score:.2f} | {100 * (score - reference[0]):+.2f} | {diff:.1e} |", flush=True)


def decode_tables(files: list[str], preprocess: Preprocess, net: torch.nn.Module, embedder: Embedder, cores: int, repeats: int) -> None:
    """Table 3: decoding (full size or DCT-scaled) and embedding ``files`` end to end, then or overlapped."""
    print(f"\nIndex build, end to end: {len(files)} JPEG files (read once before timing, so from the page cache), "
          f"embedded with {embedder!r}\n")
    for path in files:
        Path(path).read_bytes()
    full = decode_for_model(files, preprocess, workers=1, draft=False)
    fast = decode_for_model(files, preprocess, workers=1, draft=True)
    print(f"DCT-scaled decode vs full-size decode: mean abs pixel difference {np.abs(full.astype(int) - fast.astype(int)).mean():.2f} grey levels\n")
    print("| decode | processes | decode img/s | decode + embed img/s |")
    print("|---|---:|---:|---:|")
    decode_then_embed_rows(files, preprocess, embedder, cores, repeats)
    overlapped_rows(files, preprocess, net, cores, repeats)


def decode_then_embed_rows(files: list[str], preprocess: Preprocess, embedder: Embedder, cores: int, repeats: int) -> None:
    """Rows of table 3: decode every file (in this process or a pool), then embed them all."""
    with decoding_pool(cores) as pool:
        pool.submit(int).result()  # start the workers before timing
        for draft in (False, True):
            for workers in (1, cores):
                decode = lambda: decode_for_model(files, preprocess, workers=workers, draft=draft, pool=pool if workers > 1 else None)
                decode()
                seconds, total = [], []
                for _ in range(repeats):
                    start = time.perf_counter()
                    images = decode()
                    middle = time.perf_counter()
                    embedder.embed(images)
                    seconds.append(middle - start)
                    total.append(time.perf_counter() - start)
                label = "DCT-scaled (Image.draft)" if draft else "full size"
                print(f"| {label} | {workers} | {len(files) / statistics.median(seconds):.0f} | {len(files) / statistics.median(total):.0f} |", flush=True)


def overlapped_rows(files: list[str], preprocess: Preprocess, net: torch.nn.Module, cores: int, repeats: int) -> None:
    """Rows of table 3: the pool decodes the next chunks while this process embeds the finished ones."""
    for draft, workers, threads in ((False, 1, 1), (False, cores, 1), (False, cores, cores), (True, 1, 1), (True, cores, 1)):
        overlap = Embedder(net, preprocess.size, "auto", threads, batch_size=256)
        with decoding_pool(workers) as small_pool:
            small_pool.submit(int).result()
            run_once = lambda: [overlap.embed(b) for _, b, _ in decode_chunks("", files, preprocess, pool=small_pool, draft=draft, chunk=64)]
            run_once()
            total = []
            for _ in range(repeats):
                start = time.perf_counter()
                run_once()
                total.append(time.perf_counter() - start)
        label = "DCT-scaled" if draft else "full size"
        print(f"| {label}, overlapped with embedding ({threads} thread{'s' if threads > 1 else ''}) | {workers} | | "
              f"{len(files) / statistics.median(total):.0f} |", flush=True)


def decode_accuracy(preprocess: Preprocess, embedder: Embedder, train: ImageSet, test: ImageSet, closed: bool) -> None:
    """The test metric when every image is decoded at full size, and when DCT-scaled."""
    train_files = [str(train.root / p) for p in train.paths]
    test_files = [str(test.root / p) for p in test.paths]
    for draft in (False, True):
        test_x = embedder.embed(decode_for_model(test_files, preprocess, draft=draft))
        train_x = embedder.embed(decode_for_model(train_files, preprocess, draft=draft))
        score = split_score(closed, train, test, test_x, lambda: train_x)
        print(f"\n{metric_name(closed)} with {'DCT-scaled' if draft else 'full-size'} decoding of every image: {100 * score:.2f}", end="")
    print()


if __name__ == "__main__":
    main()
