"""Every setting of the web app in one class, read from ``DOPPELGANGER_*`` environment variables (or ``.env``).

The paths (data, runs, model run, index) are ``model.settings.Settings``'s; the app adds the admin token, the
upload limits, the bounds of k, where added gallery people go, and where to listen.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr

from index.matcher import MAX_K
from model.faces.photo_decode import MAX_BYTES, MAX_PIXELS
from model.settings import Settings


class AppSettings(Settings):
    """The app's settings; each field ``name`` is read from ``DOPPELGANGER_NAME``."""

    admin_token: SecretStr | None = None
    """Bearer token of the admin page and endpoints; without one, admin is switched off (403)."""
    max_upload_bytes: int = MAX_BYTES
    max_upload_pixels: int = MAX_PIXELS
    default_k: int = 5
    max_k: int = Field(default=20, ge=1, le=MAX_K)
    """The most look-alikes a request may ask for: the server's limit, at most the matcher's own ``MAX_K``."""
    gallery_added_dir: Path = Path("galleries/added")
    """People added from the admin page, one folder each (whole photos, faces detected at rebuild)."""
    match_rate_per_minute: float = 60.0
    """Matches a minute each client address may ask for (a token bucket; 0 switches the limit off)."""
    match_burst: int = 10
    """Matches a client may ask for at once before the rate applies."""
    match_timeout_seconds: float = Field(default=30.0, gt=0)
    """A match that takes longer is answered 503 (a server too busy); the photo is dropped either way."""
    match_threads: int = 1
    """CPU threads one match may use for face detection and embedding (0: every core). One thread per match, with
    requests side by side on the cores, measured faster than two threads per match on a 2-core machine, for one
    client and for several (docs/performance.md)."""
    index_watch_seconds: float = 5.0
    """How often (at most) a request checks whether another process published a new index version, which is then
    loaded in the background: replicas sharing one index folder follow each other's rebuilds (0: never)."""
    cors_origins: list[str] = []
    """Origins whose pages may call the API from a browser (e.g. ["https://example.org"]); none by default."""
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def compare_dir(self) -> Path:
        """The comparison runs the accuracy dashboard shows beside the served model."""
        return self.runs_dir / "compare"


@lru_cache
def get_app_settings() -> AppSettings:
    return AppSettings()
