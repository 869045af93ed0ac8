"""The manifest: what one index version was built from, and how to read its scores.

It names the model by the hash of its checkpoint: an index is only ever searched with the model that built it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


@dataclass
class Manifest:
    """``manifest.json`` of an index version."""

    model_hash: str
    """SHA-256 of the checkpoint that embedded the gallery."""
    model_run: str
    """The run directory the checkpoint came from (informative: the hash is what is checked)."""
    dim: int
    image_size: int
    count: int
    factory: str
    """The FAISS index-factory string of the index under the id map ("Flat", "HNSW32", "IVF256,PQ16", ...)."""
    galleries: list[dict[str, str]]
    """The gallery folders: ``root``, ``kind`` (aligned or photos) and the ``prefix`` of their image paths."""
    built_at: str
    """UTC time the version was published, ISO 8601."""
    build_seconds: float
    calibration: dict[str, Any]
    """``index.calibration.Calibration`` as a dict: similarity curve and same-person threshold."""
    version: str = ""
    """The version's folder name (set when it is published)."""
    crop: str = ""
    """The tag of the crop that made the model's inputs (``model.faces.crop``): a rebuild keeps an image's
    embedding only when its crop is the same. Empty in versions built before it was recorded, whose embeddings
    a rebuild therefore computes again."""
    stats: dict[str, Any] = field(default_factory=dict)
    """How the build went: images embedded, kept, removed, skipped, images per second."""
    checksums: dict[str, str] = field(default_factory=dict)
    """SHA-256 of the version's other files (``index.faiss``, ``metadata.sqlite``), checked when it is loaded."""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Manifest":
        known = {f.name for f in fields(cls)}
        if values.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"index format {values.get('format_version')!r} is not the format {FORMAT_VERSION} this version reads: "
                f"rebuild the index with `doppelganger index build`"
            )
        return cls(**{k: v for k, v in values.items() if k in known})

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        return cls.from_dict(json.loads(Path(path).read_text()))
