"""Index rebuilds from the admin page: one at a time, in a background thread, with progress and a history.

A rebuild embeds the gallery (``index.build.build_index``: incremental unless asked for a full one), publishes a
new index version atomically and swaps it into the ``MatchService``; ``/match`` keeps answering from the old
index meanwhile. A rebuild that fails, at any step, leaves the old index serving and says why in its job.

The galleries are those of the live index: its first gallery (LFW's images, or ``DOPPELGANGER_DATA_DIR``'s LFW
when no index exists yet), plus the people added from the admin page (``settings.gallery_added_dir``, whole
photos, recorded under the prefix ``added/``). People removed from the read-only LFW gallery are listed in
``INDEX_DIR/excluded_people.json`` and left out. Every job is recorded in ``INDEX_DIR/rebuilds.jsonl``: a line
when it starts and one when it ends (the last line of a job wins; a job that started but never ended was
interrupted by a restart).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from app.services.gallery_admin import ADDED_PREFIX, added_people, read_excluded
from app.services.matching import MatchService
from app.services.served_index import live_manifest
from app.settings import AppSettings
from index.build import GallerySource, build_index
from model.faces.detector import Face
from index.manifest import Manifest
from model.data.lfw import image_dir

log = logging.getLogger("doppelganger")

HISTORY = "rebuilds.jsonl"
HISTORY_LIMIT = 50
STATES = ("queued", "running", "succeeded", "failed")


class RebuildRunningError(RuntimeError):
    """A rebuild is already running (or queued): one at a time."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class Job:
    """One rebuild: what was asked, where it stands, and how it ended."""

    id: str
    full: bool
    reason: str
    state: str = "queued"
    done: int = 0
    total: int = 0
    message: str = "waiting to start"
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    previous_version: str | None = None
    version: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


class RebuildService:
    """Runs rebuilds of ``settings.index_dir`` one at a time and swaps each new version into ``match_service``.

    ``locate`` (photo bytes -> the image and its face) replaces the face detector for added photos (tests); ``build``
    replaces ``build_index`` (tests). ``workers`` is 1 by default: ``build_index`` decodes with a process pool
    when given more, and forking a server that runs threads (uvicorn's, PyTorch's) is not safe.
    """

    def __init__(
        self,
        settings: AppSettings,
        match_service: MatchService,
        locate: Callable[[bytes], tuple[Image.Image, Face]] | None = None,
        workers: int = 1,
        build: Callable[..., Any] = build_index,
    ) -> None:
        self.settings = settings
        self.match_service = match_service
        self.index_dir = Path(settings.index_dir)
        self.locate = locate
        self.workers = workers
        self.build = build
        self._lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._current: Job | None = None
        self._queued: Job | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------- asking

    @property
    def history_file(self) -> Path:
        return self.index_dir / HISTORY

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None

    def start(self, full: bool = False, reason: str = "rebuild asked from the admin page") -> Job:
        """Start a rebuild now; ``RebuildRunningError`` if one is running."""
        with self._lock:
            if self._current is not None:
                raise RebuildRunningError(
                    f"rebuild {self._current.id} is {self._current.state}: wait for it to end "
                    f"(GET /admin/jobs/{self._current.id}), then start another"
                )
            job = self._new_job(full, reason)
            self._current = job
            self._launch(job)
            return job

    def request(self, reason: str, full: bool = False) -> Job:
        """A rebuild after a gallery change: started now, or queued to follow the running one (which may have
        scanned the galleries before the change). Changes made while one is queued share it."""
        with self._lock:
            if self._current is None:
                job = self._new_job(full, reason)
                self._current = job
                self._launch(job)
                return job
            if self._queued is None:
                self._queued = self._new_job(full, reason)
                self._queued.message = f"queued: starts when rebuild {self._current.id} ends"
            else:
                self._queued.full = self._queued.full or full
                self._queued.reason += f"; {reason}"
            return self._queued

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A job by id: one of this process, or one of the history file."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.to_dict()
        return next((j for j in self.history() if j["id"] == job_id), None)

    def history(self, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The latest jobs, newest first: those of this process and those recorded in the history file."""
        jobs: dict[str, dict[str, Any]] = {}
        if self.history_file.exists():
            with self._history_lock:
                lines = self.history_file.read_text(errors="replace").splitlines()
            for line in lines:
                try:
                    record = json.loads(line)
                    jobs[str(record["id"])] = record
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash
        with self._lock:
            live = {job.id: job.to_dict() for job in self._jobs.values()}
        for job_id, record in jobs.items():
            if job_id not in live and record.get("state") in ("queued", "running"):
                record.update(state="failed", message="interrupted: the server stopped during this rebuild")
        jobs.update(live)
        ordered = sorted(jobs.values(), key=lambda j: (j.get("created_at") or "", j["id"]), reverse=True)
        return ordered[:limit]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no rebuild is running or queued (tests, shutdown); whether that happened in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread = self._thread
                idle = self._current is None
            if idle:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if thread is not None:
                thread.join(min(0.1, remaining) if remaining is not None else 0.1)

    # ------------------------------------------------------------------------------------------- planning

    def live_manifest(self) -> Manifest | None:
        return live_manifest(self.index_dir)

    def active(self) -> dict[str, Any] | None:
        """The rebuild queued or running now (the newest job, as ``job`` gives it), or None when idle."""
        history = self.history(limit=1)
        return history[0] if history and history[0]["state"] in ("queued", "running") else None

    def plan(self) -> dict[str, Any]:
        """What the next rebuild will use: model run, galleries, excluded people."""
        manifest = self.live_manifest()
        first = next((g for g in (manifest.galleries if manifest else []) if g.get("prefix") == ""), None)
        base = Path(first["root"]) if first else image_dir(self.settings.lfw_dir)
        galleries = [GallerySource(base, "auto", "")]
        added_dir = Path(self.settings.gallery_added_dir)
        if added_people(added_dir):
            galleries.append(GallerySource(added_dir, "photos", ADDED_PREFIX))
        run = self.match_service.run_dir or (Path(manifest.model_run) if manifest else Path(self.settings.model_run))
        return {
            "run": Path(run), "galleries": galleries, "exclude": read_excluded(self.index_dir),
            "factory": manifest.factory if manifest else None, "previous": manifest.version if manifest else None,
        }

    # ------------------------------------------------------------------------------------------- running

    def _new_job(self, full: bool, reason: str) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], full=bool(full), reason=reason)
        self._jobs[job.id] = job
        if len(self._jobs) > HISTORY_LIMIT:  # forget the oldest finished jobs (they stay in the file)
            for old in [j for j in self._jobs.values() if j.finished][: len(self._jobs) - HISTORY_LIMIT]:
                del self._jobs[old.id]
        return job

    def _launch(self, job: Job) -> None:
        self._record(job)
        self._thread = threading.Thread(target=self._loop, args=(job,), name=f"rebuild-{job.id}", daemon=True)
        self._thread.start()

    def _loop(self, job: Job) -> None:
        while job is not None:
            self._execute(job)
            with self._lock:
                job, self._queued = self._queued, None
                self._current = job
            if job is not None:
                self._record(job)

    def _execute(self, job: Job) -> None:
        job.state, job.started_at, job.message = "running", _now(), "scanning the galleries"
        self._record(job)
        published = None
        try:
            plan = self.plan()
            job.previous_version = plan["previous"]

            def on_progress(done: int, total: int) -> None:
                job.done, job.total = done, total
                job.message = f"embedding images: {done} of {total}"

            kwargs: dict[str, Any] = {}
            if plan["factory"]:
                kwargs["factory"] = plan["factory"]
            report = self.build(
                plan["run"], plan["galleries"], self.index_dir, self.settings.lfw_dir,
                exclude_people=plan["exclude"], full=job.full, workers=self.workers, locate=self.locate,
                progress=False, on_progress=on_progress, **kwargs,
            )
            published = report.version
            job.version = published
            job.stats = {
                "images": report.count, "embedded": report.embedded, "kept": report.kept, "removed": report.removed,
                "skipped": len(report.skipped), "seconds": round(report.seconds, 2),
                "skipped_examples": dict(list(report.skipped.items())[:10]),
            }
            job.message = f"index {published} published: loading it"
            self.match_service.reload()
            if not self.match_service.ready:
                raise RuntimeError(self.match_service.health().get("reason", "the new index did not load"))
            job.state = "succeeded"
            job.message = (
                f"index {published} is serving: {report.count} images ({report.embedded} embedded, {report.kept} kept, "
                f"{report.removed} removed, {len(report.skipped)} skipped) in {report.seconds:.1f} s"
            )
        except Exception as error:  # noqa: BLE001 - a failed rebuild must never take the server down
            log.exception("rebuild %s failed", job.id)
            job.state = "failed"
            why = f"{type(error).__name__}: {error}"
            if published:
                job.message = (f"index {published} was published but could not be loaded ({why}); the previous "
                               f"index keeps serving until the server restarts")
            else:
                job.message = f"the rebuild failed ({why}); the previous index keeps serving"
        finally:
            job.finished_at = _now()
            self._record(job)

    def _record(self, job: Job) -> None:
        """Append the job's state to the history file (never fatal)."""
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            line = json.dumps(job.to_dict()) + "\n"
            with self._history_lock, open(self.history_file, "a") as handle:
                handle.write(line)
        except OSError:
            log.exception("cannot write the rebuild history %s", self.history_file)
