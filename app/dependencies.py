"""Every dependency the routes take, in one place: settings and services (set up by ``app.main``)."""

from __future__ import annotations

import threading
from typing import Any, Callable

from fastapi import Request

from app.services.dashboards import AccuracyDashboard, EmbeddingMaps
from app.services.gallery_admin import GalleryAdmin
from app.services.matching import MatchService
from app.services.rebuilds import RebuildService
from app.settings import AppSettings


def get_app_settings(request: Request) -> AppSettings:
    return request.app.state.settings


def get_match_service(request: Request) -> MatchService:
    return request.app.state.match_service


# The admin and dashboard services are created on first use and kept on ``app.state`` (a test sets its own first).
_create_lock = threading.Lock()


def _state_service(request: Request, name: str, make: Callable[[AppSettings, MatchService], Any]) -> Any:
    state = request.app.state
    service = getattr(state, name, None)
    if service is None:
        with _create_lock:
            service = getattr(state, name, None)
            if service is None:
                service = make(state.settings, state.match_service)
                setattr(state, name, service)
    return service


def get_rebuild_service(request: Request) -> RebuildService:
    return _state_service(request, "rebuilds", RebuildService)


def get_gallery_admin(request: Request) -> GalleryAdmin:
    return _state_service(request, "gallery_admin", lambda s, _: GalleryAdmin(
        s.gallery_added_dir, s.index_dir, max_bytes=s.max_upload_bytes, max_pixels=s.max_upload_pixels,
    ))


def get_accuracy_dashboard(request: Request) -> AccuracyDashboard:
    return _state_service(request, "accuracy_dashboard", AccuracyDashboard)


def get_embedding_maps(request: Request) -> EmbeddingMaps:
    return _state_service(request, "embedding_maps", EmbeddingMaps)
