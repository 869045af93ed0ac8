"""FAISS at gallery sizes far past LFW: build time, memory, query time and recall@10 of each factory string.

    python bench/faiss_scale.py [--n 1000000] [--dim 64] [--queries 1000] [--threads 0]

The gallery is synthetic but shaped like face embeddings: unit vectors in clusters (an "identity" centre per 10
images plus noise, so that neighbours are close together and far from the rest, as in a real gallery), and the
queries are new images of gallery identities. Recall@10 is the fraction of the exact top 10 (inner product over
the unit vectors, what the app searches) that each index returns. Query time is per single query, as the app
sends them, median over the queries. Memory is the size of the serialised index (what `index.faiss` takes on
disk and, within a few percent, in RAM).

Each factory string is tried at a few search settings (``efSearch`` for HNSW, ``nprobe`` for IVF); the last
section puts a Flat index into 2 shards searched in parallel (``faiss.IndexShards``) to show what sharding buys.
"""

from __future__ import annotations

import argparse
import os
import time

import faiss
import numpy as np


def gallery(n: int, dim: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    identities = max(1, n // 10)
    centres = rng.normal(size=(identities, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count: int) -> np.ndarray:
        who = rng.integers(identities, size=count)
        x = centres[who] + rng.normal(scale=0.6 / np.sqrt(dim), size=(count, dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return draw(n), draw(queries)


def timed_queries(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, float, float]:
    """Results of one query at a time, and the median and p95 time per query in ms."""
    found = np.empty((len(queries), k), dtype=np.int64)
    times = np.empty(len(queries))
    for i, q in enumerate(queries):
        start = time.perf_counter()
        _, ids = index.search(q[None], k)
        times[i] = time.perf_counter() - start
        found[i] = ids[0]
    return found, 1000 * float(np.median(times)), 1000 * float(np.percentile(times, 95))


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def size_mb(index: faiss.Index) -> float:
    return faiss.serialize_index(index).nbytes / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="gallery size")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads for building and searching (0: all cores)")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    threads = args.threads or os.cpu_count() or 1
    faiss.omp_set_num_threads(threads)

    x, q = gallery(args.n, args.dim, args.queries)
    print(f"{args.n:,} synthetic unit vectors of dimension {args.dim}, {args.queries} single queries, recall@{args.k} "
          f"against exact search; {threads} threads, faiss {faiss.__version__}")
    print("| factory string | search setting | build s | size MB | median ms / query | p95 ms | recall@10 |")
    print("|---|---|---:|---:|---:|---:|---:|")

    candidates = [
        ("Flat", [{}]),
        ("HNSW32", [{"efSearch": v} for v in (16, 32, 64, 128)]),
        ("IVF1024,Flat", [{"nprobe": v} for v in (8, 32)]),
        ("IVF1024,PQ32", [{"nprobe": v} for v in (8, 32)]),
    ]
    exact = None

    def report(factory: str, index: faiss.Index, build: float, settings: list[dict]) -> None:
        nonlocal exact
        megabytes = size_mb(index)
        for setting in settings:
            for name, value in setting.items():
                faiss.ParameterSpace().set_index_parameter(index, name, value)
            label = ", ".join(f"{name}={value}" for name, value in setting.items()) or "-"
            found, median, p95 = timed_queries(index, q, args.k)
            if exact is None:
                exact = found  # Flat over inner products is the exact search
            print(f"| {factory} | {label} | {build:.1f} | {megabytes:.0f} | {median:.3f} | {p95:.3f} | "
                  f"{recall_at(found, exact):.3f} |", flush=True)

    for factory, settings in candidates:
        index = faiss.index_factory(args.dim, factory, faiss.METRIC_INNER_PRODUCT)
        start = time.perf_counter()
        if not index.is_trained:
            index.train(x[np.random.default_rng(1).choice(len(x), size=min(len(x), 100_000), replace=False)])
        trained = time.perf_counter() - start
        empty = faiss.clone_index(index) if factory == "IVF1024,PQ32" else None
        index.add(x)
        report(factory, index, time.perf_counter() - start, settings)
        del index
        if empty is not None:  # the same trained quantizer, re-ranked by exact distances: the ",RFlat" suffix
            start = time.perf_counter()
            refined = faiss.IndexRefineFlat(empty)
            refined.add(x)
            report(factory + ",RFlat", refined, trained + time.perf_counter() - start,
                   [{"nprobe": 16, "k_factor_rf": 4}, {"nprobe": 32, "k_factor_rf": 4}])
            del refined

    shards = faiss.IndexShards(args.dim, True, True)  # threaded; ids numbered on from one shard to the next
    parts = [faiss.IndexFlatIP(args.dim) for _ in range(2)]
    half = len(x) // 2
    for part, rows in zip(parts, (x[:half], x[half:])):
        part.add(rows)
        shards.add_shard(part)
    start = time.perf_counter()
    found, median, p95 = timed_queries(shards, q, args.k)
    print(f"| Flat in 2 shards (IndexShards, parallel) | - | - | {sum(size_mb(p) for p in parts):.0f} | {median:.3f} | "
          f"{p95:.3f} | {recall_at(found, exact):.3f} |")


if __name__ == "__main__":
    main()
