"""The HTML pages: ``/``, the look-alike page (upload or webcam, faces, matches).

Pages are Jinja2 templates in ``templates/`` extending ``base.html`` (nav bar, the one stylesheet
``/static/style.css``); their scripts are plain ES modules in ``static/`` (both found by ``app.web``). Everything is served by this app:
no CDN, no external fonts. The page only calls the JSON API (``POST /match``, ``GET /health``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.dependencies import get_app_settings
from app.settings import AppSettings
from app.web import templates


router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse, summary="The look-alike page")
def index(request: Request, settings: Annotated[AppSettings, Depends(get_app_settings)]) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "default_k": min(settings.default_k, settings.max_k),
            "max_k": settings.max_k,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_upload_pixels": settings.max_upload_pixels,
        },
    )
