"""The matching service: the loaded model and index, shared by every request, swapped atomically on rebuilds.

The ``Matcher`` (model, detector, FAISS index) is loaded once at start-up. A rebuild publishes a new index version
and calls ``reload``: the new matcher is loaded completely first, then replaces the old one in a single
assignment, so a request in flight finishes on the index it started with and the next one sees the new one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from index.matcher import Matcher
from index.storage import IndexMissingError
from model.faces.detector import FaceDetector


class IndexNotReadyError(RuntimeError):
    """No index is loaded yet (none built, or it failed to load)."""


class MatchService:
    """Holds the current ``Matcher``; ``matcher`` raises ``IndexNotReadyError`` until one is loaded."""

    def __init__(self, index_dir: Path, run_dir: Path | None = None, max_bytes: int | None = None, max_pixels: int | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.run_dir = run_dir
        self.limits = {k: v for k, v in (("max_bytes", max_bytes), ("max_pixels", max_pixels)) if v is not None}
        self._matcher: Matcher | None = None
        self._detector: FaceDetector | None = None
        self._load_error: str | None = None
        self._lock = threading.Lock()

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector()
        return self._detector

    def load(self) -> None:
        """Load the live index and its model; on failure keep serving what was loaded before, and say why."""
        with self._lock:
            try:
                matcher = Matcher.load(self.index_dir, self.run_dir, detector=self.detector, **self.limits)
            except (IndexMissingError, FileNotFoundError, ValueError) as error:
                self._load_error = str(error)
                if self._matcher is None:
                    return
                raise
            old, self._matcher, self._load_error = self._matcher, matcher, None
        # The old index is not closed: a request that started on it may still be reading its metadata.
        del old

    reload = load

    def use(self, matcher: Matcher) -> None:
        """Serve ``matcher`` (tests and embedding callers that built one themselves)."""
        self._matcher = matcher

    @property
    def matcher(self) -> Matcher:
        matcher = self._matcher
        if matcher is None:
            raise IndexNotReadyError(
                f"the index is not ready: {self._load_error or 'it is still loading'}. "
                f"Build it with `doppelganger index build` (or from /admin), then retry."
            )
        return matcher

    @property
    def ready(self) -> bool:
        return self._matcher is not None

    def match(self, photo: bytes, k: int, face: int | None, detect: bool) -> dict[str, Any]:
        return self.matcher.match(photo, k=k, face=face, aligned=not detect)

    def health(self) -> dict[str, Any]:
        matcher = self._matcher
        if matcher is None:
            return {"status": "not ready", "reason": self._load_error or "loading"}
        manifest = matcher.index.manifest
        return {
            "status": "ok",
            "model": {"run": manifest.model_run, "hash": manifest.model_hash, "backend": matcher.embedder.backend},
            "index": {
                "version": manifest.version, "images": len(matcher.index), "people": len(matcher.index.metadata.people()),
                "factory": manifest.factory, "built_at": manifest.built_at,
            },
        }
