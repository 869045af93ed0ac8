"""``doppelganger serve``: the web app on the configured index and model, with uvicorn."""

from __future__ import annotations

import argparse
import os

from app.settings import get_app_settings


def main(args: argparse.Namespace) -> None:
    import uvicorn

    if args.index:
        os.environ["DOPPELGANGER_INDEX_DIR"] = args.index
    if getattr(args, "detector", None):
        os.environ["DOPPELGANGER_DETECTOR"] = args.detector
    get_app_settings.cache_clear()
    settings = get_app_settings()
    host, port = args.host or settings.host, args.port or settings.port
    if settings.match_threads > 0:  # MTCNN runs in PyTorch's pool (the search is single-threaded: Matcher); YuNet
        # and the SSD get match_threads from the matching service
        import torch

        torch.set_num_threads(settings.match_threads)
    print(f"Doppelganger: serving on http://{host}:{port}  (index {settings.index_dir}; stop with Ctrl+C)", flush=True)
    # access_log off: request lines carry no photo, but there is nothing to learn from them either
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, access_log=False, log_level="info")
