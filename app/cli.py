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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doppelganger",
        description="Learn a face-similarity metric and find look-alikes in Labeled Faces in the Wild.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_cli.register(subparsers)
    index_cli.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except model_cli.UserError as error:
        print(f"doppelganger {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
