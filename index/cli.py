"""Subcommands of ``doppelganger`` that belong to ``index``: ``index build``, ``index info`` and ``match``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from model.commands import module_handler
from model.faces.detectors.names import DEFAULT_DETECTOR, DETECTORS


def _add_detector_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--detector", choices=DETECTORS, default=None,
        help=f"the face detector of {what} (default: $DOPPELGANGER_DETECTOR, else {DEFAULT_DETECTOR})",
    )


def _with_detector_setting(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``handler`` run with ``--detector``, when given, as the ``detector`` setting (``DOPPELGANGER_DETECTOR``):
    whatever the command builds reads it from there."""

    def run(args: argparse.Namespace) -> int:
        if getattr(args, "detector", None):
            from model.settings import get_settings

            os.environ["DOPPELGANGER_DETECTOR"] = args.detector
            get_settings.cache_clear()
        return handler(args)

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    index = subparsers.add_parser(
        "index", help="build and inspect the FAISS index of a gallery", description="Build and inspect the FAISS index of a gallery."
    )
    actions = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="embed a gallery into a new index version (incremental)",
        description=(
            "Embed every image of a gallery (default: all of LFW) with a trained run's best checkpoint and publish "
            "the FAISS index, its SQLite metadata and manifest as a new version of INDEX_DIR, atomically. "
            "Unchanged images keep their embeddings; a new model embeds everything again. The similarity "
            "calibration is fitted on LFW View 2 pairs of people the model never trained on."
        ),
    )
    build.add_argument("--run", default=None, help="the trained run (default: $DOPPELGANGER_MODEL_RUN, runs/default)")
    build.add_argument(
        "--gallery", action="append", default=None,
        help="folder of <Person>/<image> files (default: LFW's deep-funneled images); repeat to join several, the "
        "images of the second and later ones being named <folder name>/<Person>/<image>",
    )
    build.add_argument("--out", default=None, help="index folder (default: $DOPPELGANGER_INDEX_DIR, indexes/lfw)")
    build.add_argument("--factory", default="Flat", help="FAISS index-factory string: Flat (exact, default), HNSW32, IVF256,PQ16, ...")
    build.add_argument(
        "--kind", default="auto", choices=("auto", "aligned", "photos"),
        help="aligned: LFW-style 250x250 face frames; photos: whole photos, faces detected and cropped first; "
        "auto: aligned when every image is 250x250 (default)",
    )
    build.add_argument("--full", action="store_true", help="embed every image again, even unchanged ones")
    build.add_argument("--workers", type=int, default=0, help="decoding processes (0: one per core)")
    _add_detector_flag(build, "whole photos (--kind photos)")
    build.set_defaults(func=_with_detector_setting(module_handler("index.build")))

    info = actions.add_parser("info", help="print an index's manifest", description="Print the manifest of the live index version.")
    info.add_argument("--index", default=None, help="index folder (default: $DOPPELGANGER_INDEX_DIR)")
    info.set_defaults(func=module_handler("index.info"))

    match = subparsers.add_parser(
        "match",
        help="find the look-alikes of every face in a photo",
        description=(
            "Detect every face of PHOTO (JPEG, PNG or WebP), crop each as LFW's images are cropped, and print its k "
            "nearest gallery images with a calibrated similarity (0-100%%) and whether it passes the same-person "
            "threshold, plus the time each stage took. The photo is read in memory and never stored."
        ),
    )
    match.add_argument("photo", help="the photo")
    match.add_argument("--index", default=None, help="index folder (default: $DOPPELGANGER_INDEX_DIR, indexes/lfw)")
    match.add_argument("--run", default=None, help="the run whose model built the index (default: the one its manifest names)")
    match.add_argument("-k", type=int, default=5, help="matches per face (default: 5)")
    match.add_argument("--face", type=int, default=None, help="which face is the query, 0 = the largest (default)")
    match.add_argument("--aligned", action="store_true", help="the photo already is an LFW-style face frame: skip detection")
    _add_detector_flag(match, "the photo")
    match.add_argument("--json", action="store_true", help="print the JSON the REST endpoint returns")
    match.add_argument("--rank-of", metavar="PERSON", default=None,
                       help="also print where PERSON's gallery images rank for the query face, over the whole gallery")
    match.set_defaults(func=module_handler("index.match_command"))
