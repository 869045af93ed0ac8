"""The matching service: the loaded model and index, shared by every request, swapped atomically on rebuilds.

The ``Matcher`` (model, detector, FAISS index) is loaded once at start-up. A rebuild publishes a new index version
and calls ``reload``: the new matcher is loaded completely first, then replaces the old one in a single
assignment, so a request in flight finishes on the index it started with and the next one sees the new one.

With ``watch_seconds`` the service also follows versions published by other processes (another replica's admin
page, ``doppelganger index build`` run beside the server): at most that often, a request looks at the index
folder's ``CURRENT`` pointer, and when it names another version, the new one is loaded in the background and
swapped in the same way. Several replicas can then share one index folder.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from index.matcher import Matcher, MatchTimeoutError  # noqa: F401  (the routes catch it from here)
from index.storage import IndexDir, IndexMissingError
from model.faces.detectors import build_detector
from model.faces.detectors.base import Detector


class IndexNotReadyError(RuntimeError):
    """No index is loaded yet (none built, or it failed to load)."""


class MatchService:
    """Holds the current ``Matcher``; ``matcher`` raises ``IndexNotReadyError`` until one is loaded.

    ``detector`` names the face detector of uploads (``model.faces.detectors.DETECTORS``; default: the ``detector``
    setting's), built once with ``threads`` and kept across reloads."""

    def __init__(
        self, index_dir: Path, run_dir: Path | None = None, max_bytes: int | None = None, max_pixels: int | None = None,
        watch_seconds: float = 0.0, threads: int = 0, detector: str | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.run_dir = run_dir
        self.limits = {k: v for k, v in (("max_bytes", max_bytes), ("max_pixels", max_pixels)) if v is not None}
        self.watch_seconds = watch_seconds
        self.threads = threads
        self._checked_at = time.monotonic()
        self._following = threading.Lock()
        self._failed_version: str | None = None
        self._matcher: Matcher | None = None
        self.detector_name = detector
        self._detector: Detector | None = None
        self._load_error: str | None = None
        self._lock = threading.Lock()

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            from model.settings import get_settings

            self._detector = build_detector(self.detector_name or get_settings().detector, threads=self.threads)
        return self._detector

    def load(self) -> None:
        """Load the live index and its model; on failure keep serving what was loaded before, and say why."""
        with self._lock:
            try:
                matcher = Matcher.load(self.index_dir, self.run_dir, detector=self.detector, threads=self.threads, **self.limits)
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

    def match(self, photo: bytes, k: int, face: int | None, detect: bool, deadline: float | None = None) -> dict[str, Any]:
        self.follow()
        return self.matcher.match(photo, k=k, face=face, aligned=not detect, deadline=deadline)

    def follow(self) -> None:
        """When ``watch_seconds`` have passed since the last look and ``CURRENT`` names another version than the
        one served, load that version in the background (requests go on with the old one until it is ready)."""
        if self.watch_seconds <= 0 or time.monotonic() - self._checked_at < self.watch_seconds:
            return
        self._checked_at = time.monotonic()
        pointer = IndexDir(self.index_dir).pointer
        try:
            live = pointer.read_text().strip()
        except OSError:
            return
        matcher = self._matcher
        if (matcher is not None and matcher.index.version == live) or live == self._failed_version:
            return
        if not self._following.acquire(blocking=False):
            return  # a reload is already under way

        def reload() -> None:
            try:
                self.load()
            except Exception:  # noqa: BLE001 - a bad new version must not stop the old one from serving
                self._failed_version = live  # tried once; a newer version will be tried again
                logging.getLogger("doppelganger").exception("cannot load the index version %s; still serving the old one", live)
            finally:
                self._following.release()

        threading.Thread(target=reload, name="index-follow", daemon=True).start()

    def health(self) -> dict[str, Any]:
        self.follow()
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
