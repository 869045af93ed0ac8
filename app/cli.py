"""``doppelganger``: one command line for the whole project.

Each package registers its own subcommands (``model.cli`` for data, training and evaluation, ``index.cli`` for
the index and matching); this module only
assembles them, so the dependency arrows keep pointing from ``app`` down to ``index`` and ``model``.
"""

from __future__ import annotations

import argparse
import sys

from index import cli as index_cli
from model import cli as model_cli
from model.commands import UserError, module_handler
from model.faces.detectors.names import DETECTORS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doppelganger",
        description="Learn a face-similarity metric and find look-alikes in Labeled Faces in the Wild.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_cli.register(subparsers)
    index_cli.register(subparsers)
    serve = subparsers.add_parser(
        "serve",
        help="serve the web app and REST API",
        description="Serve the look-alike web app, its dashboards, admin page and REST API (OpenAPI docs at /docs).",
    )
    serve.add_argument("--index", default=None, help="index folder (default: $DOPPELGANGER_INDEX_DIR, indexes/lfw)")
    serve.add_argument("--host", default=None, help="address to listen on (default: $DOPPELGANGER_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: $DOPPELGANGER_PORT, 8000)")
    serve.add_argument("--detector", choices=DETECTORS, default=None,
                       help="the face detector of uploads (default: $DOPPELGANGER_DETECTOR, else yunet)")
    serve.set_defaults(func=module_handler("app.serve"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"doppelganger {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
