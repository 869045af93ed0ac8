"""``doppelganger match PHOTO``: the look-alikes of every face in a photo, as text or as the REST endpoint's JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from index.matcher import Matcher
from model.settings import get_settings


def format_result(result: dict[str, Any]) -> str:
    """The match result as lines a person reads: each face, then its matches best first."""
    lines = []
    for number, face in enumerate(result["faces"]):
        marker = "  <- query" if number == result["query_face"] else ""
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        lines.append(f"face {number}: box ({box}), probability {face['probability']:.3f}{marker}")
        for rank, m in enumerate(face["matches"], 1):
            flag = "same person" if m["same_person"] else "look-alike"
            lines.append(f"  {rank}. {m['person']:<32} {m['similarity']:5.1f}%  distance {m['distance']:.3f}  {flag}")
    stages = ", ".join(f"{stage} {ms:.0f}" for stage, ms in result["timings_ms"].items())
    lines.append(f"timings (ms): {stages}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> dict[str, Any]:
    matcher = Matcher.load(
        Path(args.index) if args.index else get_settings().index_dir, Path(args.run) if args.run else None,
        detector=getattr(args, "detector", None),
    )
    result = matcher.match(Path(args.photo), k=args.k, face=args.face, aligned=args.aligned)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    if args.rank_of:
        ranks = matcher.rank_of(Path(args.photo), args.rank_of, face=args.face, aligned=args.aligned)
        where = f"ranks {', '.join(map(str, ranks))}" if ranks else "no image in the gallery"
        print(f"{args.rank_of}: {where} of {len(matcher.index)} for face {result['query_face']}")
    return result
