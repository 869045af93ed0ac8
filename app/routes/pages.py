"""The HTML pages: ``/``, the look-alike page (upload or webcam, faces, matches).

Pages are Jinja2 templates in ``app/templates`` extending ``base.html`` (nav bar, the one stylesheet
``/static/style.css``); their scripts are plain ES modules in ``app/static``. Everything is served by this app:
no CDN, no external fonts. The page only calls the JSON API (``POST /match``, ``GET /health``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.dependencies import get_settings
from app.settings import AppSettings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
"""``app.main.TEMPLATES`` (importing it from there would be circular: ``app.main`` imports the routes)."""

templates = Jinja2Templates(directory=TEMPLATES)
"""The one template environment; other page routes may import it from here."""

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse, summary="The look-alike page")
def index(request: Request, settings: Annotated[AppSettings, Depends(get_settings)]) -> HTMLResponse:
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
