"""The FastAPI application factory: ``create_app()`` wires settings, services, routes, pages and error handlers.

The model and the index load once, at start-up, and are shared by every request (``app.services``). Pages and
assets are served from this server (``templates/``, ``static/``, found by ``app.web``; Swagger UI and ReDoc from the
``fastapi-offline`` package): nothing comes from a CDN, so the app and its API docs work offline.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from app.errors import install_error_handlers
from app.uploads import UploadLimit, keep_in_memory
from app.routes import admin, api, dashboards, pages
from app.security import MatchRateLimit, RateLimiter, SecurityHeaders
from app.services.matching import MatchService
from app.settings import AppSettings, get_app_settings
from app.web import STATIC

DOCS_ASSETS = "/static-docs"


def create_app(settings: AppSettings | None = None, match_service: MatchService | None = None, load: bool = True) -> FastAPI:
    """The app. ``match_service`` replaces the one built from the settings (tests); ``load=False`` skips loading
    the index at start-up."""
    settings = settings or get_app_settings()
    service = match_service or MatchService(
        settings.index_dir, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels,
        watch_seconds=settings.index_watch_seconds, threads=settings.match_threads, detector=settings.detector,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if load and not service.ready:
            service.load()
            if not service.ready:
                logging.getLogger("doppelganger").warning("serving without an index: %s", service.health()["reason"])
        yield

    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, served here under
    # DOCS_ASSETS: no CDN, so the API docs render without internet too.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="Doppelganger",
        description="Upload a photo, find the people of Labeled Faces in the Wild who look most like you.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.match_service = service
    app.state.match_limiter = RateLimiter(settings.match_rate_per_minute, settings.match_burst)
    install_error_handlers(app)
    keep_in_memory(settings.max_upload_bytes)
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MatchRateLimit, limiter=app.state.match_limiter)  # before the upload is read
    if settings.cors_origins:  # closed by default: browsers refuse other origins' calls
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityHeaders)
    app.include_router(api.router)
    app.include_router(admin.page_router)
    app.include_router(admin.router)
    app.include_router(dashboards.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
