"""``doppelganger index info``: the live version's manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from index.storage import GalleryIndex
from model.settings import get_settings


def main(args: argparse.Namespace) -> None:
    index = GalleryIndex.load(Path(args.index) if args.index else get_settings().index_dir)
    try:
        print(json.dumps(index.manifest.to_dict(), indent=2))
    finally:
        index.close()
