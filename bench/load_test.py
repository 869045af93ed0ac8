"""A bounded load test of POST /match over loopback HTTP, against a real `doppelganger serve`.

    python bench/load_test.py [--index indexes/lfw] [--clients 1 4 8] [--duration 60] [--megapixels 1]

Starts the server (per-client rate limit off, as for any load test from one address), waits until it is ready,
warms it up, then for each number of clients runs that many concurrent clients for ``--duration`` seconds, each
posting real photos (../shared/photos scaled to about ``--megapixels`` and encoded as JPEG) one after the other.
Prints, per client count: matches per second, latency percentiles in ms, errors (any non-200 answer or failed
request), and the server's resident memory (RSS) before and after, with the growth. The photos are never
written to disk.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import PHOTOS_DIR, scaled_jpeg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHOTOS = ("biden.jpg", "obama.jpg", "sample1.jpg", "obama_partial_face.jpg")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_server(index: str, match_threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DOPPELGANGER_MATCH_RATE_PER_MINUTE": "0", "DOPPELGANGER_MATCH_THREADS": str(match_threads)}
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--index", index, "--port", str(port)],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited: {server.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    sys.exit("the server was not ready after 180 s")


def stop_server(server: subprocess.Popen) -> None:
    """Ask the server to stop (SIGTERM), and kill it if it has not within 20 seconds."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()


def run_clients(url: str, photos: list[bytes], clients: int, duration: float) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            i = number
            while time.monotonic() < stop:
                photo = photos[i % len(photos)]
                i += 1
                start = time.perf_counter()
                try:
                    response = http.post("/match", files={"file": ("photo.jpg", photo, "image/jpeg")})
                    problem = None if response.status_code == 200 else f"{response.status_code}: {response.text[:120]}"
                except httpx.HTTPError as error:
                    problem = f"{type(error).__name__}: {error}"
                elapsed = time.perf_counter() - start
                with lock:
                    (errors.append(problem) if problem else latencies.append(1000 * elapsed))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="indexes/lfw")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per client count")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--photos", default=str(PHOTOS_DIR))
    parser.add_argument("--match-threads", type=int, default=1, help="the server's DOPPELGANGER_MATCH_THREADS")
    args = parser.parse_args()

    photos = [scaled_jpeg(Path(args.photos) / name, args.megapixels) for name in PHOTOS if (Path(args.photos) / name).exists()]
    if not photos:
        sys.exit(f"no photos in {args.photos}")
    server, url = start_server(args.index, args.match_threads)
    try:
        warm = run_clients(url, photos, 1, 5.0)
        if warm[1]:
            sys.exit(f"the warm-up failed: {warm[1][:3]}")
        print(f"{len(photos)} photos of ~{args.megapixels:g} MP ({np.mean([len(p) for p in photos]) / 1024:.0f} kB JPEG on "
              f"average), {args.duration:g} s per client count, server pid {server.pid} on {url}, {os.cpu_count()} CPU cores, "
              f"DOPPELGANGER_MATCH_THREADS={args.match_threads}")
        print("| clients | matches | matches/s | p50 ms | p90 ms | p95 ms | p99 ms | max ms | errors | RSS before MB | RSS after MB | growth |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for clients in args.clients:
            before = rss_mb(server.pid)
            latencies, errors, seconds = run_clients(url, photos, clients, args.duration)
            after = rss_mb(server.pid)
            p = np.percentile(latencies, [50, 90, 95, 99]) if latencies else [float("nan")] * 4
            print(f"| {clients} | {len(latencies)} | {len(latencies) / seconds:.1f} | {p[0]:.0f} | {p[1]:.0f} | {p[2]:.0f} | "
                  f"{p[3]:.0f} | {max(latencies, default=float('nan')):.0f} | {len(errors)} | {before:.0f} | {after:.0f} | "
                  f"{100 * (after - before) / before:+.1f}% |", flush=True)
            for problem in sorted(set(errors))[:5]:
                print(f"  error: {problem}")
        healthy = httpx.get(f"{url}/health", timeout=10).json()["status"]
        print(f"server health after the load: {healthy}")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
