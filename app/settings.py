"""Every setting of the web app in one class, read from ``DOPPELGANGER_*`` environment variables (or ``.env``).

The paths (data, runs, model run, index) are ``model.settings.Settings``'s; the app adds the admin token, the
upload limits, the bounds of k, where added gallery people go, and where to listen.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr

from model.faces.decode import MAX_BYTES, MAX_PIXELS
from model.settings import Settings


class AppSettings(Settings):
    """The app's settings; each field ``name`` is read from ``DOPPELGANGER_NAME``."""

    admin_token: SecretStr | None = None
    """Bearer token of the admin page and endpoints; without one, admin is switched off (403)."""
    max_upload_bytes: int = MAX_BYTES
    max_upload_pixels: int = MAX_PIXELS
    default_k: int = 5
    max_k: int = 20
    gallery_added_dir: Path = Path("galleries/added")
    """People added from the admin page, one folder each (whole photos, faces detected at rebuild)."""
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def compare_dir(self) -> Path:
        """The comparison runs the accuracy dashboard shows beside the served model."""
        return self.runs_dir / "compare"


@lru_cache
def get_app_settings() -> AppSettings:
    return AppSettings()
