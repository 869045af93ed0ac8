"""Where the project reads data and writes runs and caches: one place, read from the environment.

Every setting can be set with an environment variable (``DOPPELGANGER_DATA_DIR``, ``DOPPELGANGER_RUNS_DIR``,
``DOPPELGANGER_CACHE_DIR``, ``DOPPELGANGER_MODEL_RUN``, ``DOPPELGANGER_INDEX_DIR``, ``DOPPELGANGER_SUMMARIES_DIR``, ...) or a ``.env`` file;
the default paths lie under the current directory, except the data and the pretrained weights, which default to
``../shared/data`` and ``../shared/weights/faces`` when those folders exist (a clone beside the team's shared
folder), as the Makefile does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.faces.detectors.names import DEFAULT_DETECTOR, check_detector


def _shared_or(shared: str, local: str) -> Path:
    """``../shared/<shared>`` when it exists beside this clone's working directory, else ``./<local>``."""
    candidate = Path("..") / "shared" / shared
    return candidate.resolve() if candidate.is_dir() else Path(local)


class Settings(BaseSettings):
    """Paths shared by training, evaluation, the index and the app."""

    model_config = SettingsConfigDict(env_prefix="DOPPELGANGER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: _shared_or("data", "data"))
    """Holds ``lfw/`` (``lfw-deepfunneled/`` or ``lfw/`` plus the protocol files) and ``tt100k/``."""
    weights_dir: Path = Field(default_factory=lambda: _shared_or("weights/faces", "weights/faces"))
    """Pretrained face models (``model.pretrained``): ``openvino/`` and ``opencv_zoo/``."""
    runs_dir: Path = Path("runs")
    """Training runs: one directory each, with config, split, checkpoints and metrics."""
    cache_dir: Path = Path("cache")
    """Decoded, resized image arrays (rebuilt on demand; safe to delete)."""
    model_run: Path = Path("runs/default")
    """The trained run whose best checkpoint embeds faces for the index and the app (``make run`` trains it)."""
    index_dir: Path = Path("indexes/lfw")
    """The FAISS index the app and ``doppelganger match`` search (``doppelganger index build`` writes it)."""
    summaries_dir: Path = Path("docs/results/runs")
    """Committed run summaries (``model.run_summary``: one small JSON file per evaluated run, no weights), which the
    accuracy dashboard shows when the run directory is not there; ``doppelganger runs export`` writes here."""
    detector: str = DEFAULT_DETECTOR
    """The face detector of photos (uploads, whole-photo galleries), one of ``DETECTORS`` (``yunet``, ``openvino``,
    ``mtcnn``: ``model.faces.detectors``). LFW's face frames are aligned with MTCNN whatever it says
    (``model.faces.crop``)."""

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        return check_detector(name)

    @property
    def lfw_dir(self) -> Path:
        return self.data_dir / "lfw"

    @property
    def tt100k_dir(self) -> Path:
        return self.data_dir / "tt100k"


@lru_cache
def get_settings() -> Settings:
    return Settings()
