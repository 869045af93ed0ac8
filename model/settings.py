"""Where the project reads data and writes runs and caches: one place, read from the environment.

Every setting can be set with an environment variable (``DOPPELGANGER_DATA_DIR``, ``DOPPELGANGER_RUNS_DIR``,
``DOPPELGANGER_CACHE_DIR``, ``DOPPELGANGER_MODEL_RUN``, ``DOPPELGANGER_INDEX_DIR``, ...) or a ``.env`` file;
the default paths lie under the current directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Paths shared by training, evaluation, the index and the app."""

    model_config = SettingsConfigDict(env_prefix="DOPPELGANGER_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    """Holds ``lfw/`` (``lfw-deepfunneled/`` or ``lfw/`` plus the protocol files) and ``tt100k/``."""
    runs_dir: Path = Path("runs")
    """Training runs: one directory each, with config, split, checkpoints and metrics."""
    cache_dir: Path = Path("cache")
    """Decoded, resized image arrays (rebuilt on demand; safe to delete)."""
    model_run: Path = Path("runs/default")
    """The trained run whose best checkpoint embeds faces for the index and the app (``make run`` trains it)."""
    index_dir: Path = Path("indexes/lfw")
    """The FAISS index the app and ``doppelganger match`` search (``doppelganger index build`` writes it)."""

    @property
    def lfw_dir(self) -> Path:
        return self.data_dir / "lfw"

    @property
    def tt100k_dir(self) -> Path:
        return self.data_dir / "tt100k"


@lru_cache
def get_settings() -> Settings:
    return Settings()
