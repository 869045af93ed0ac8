"""Where the pages and their assets are, and the one template environment every page route renders with.

The templates and static files live at the top of the repository (``templates/``, ``static/``). A wheel (the
Dockerfile's ``pip install .``) installs them as ``app/templates`` and ``app/static`` (``setup.py`` maps them
there); an editable install or a plain checkout finds them beside the ``app`` package. Either way they are
served by this app: no CDN, so the pages work offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

PACKAGE = Path(__file__).resolve().parent


def _folder(name: str) -> Path:
    """``name`` inside the installed package, else beside it (the repository's top level)."""
    for candidate in (PACKAGE / name, PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the app's {name}/ folder is missing (looked in {PACKAGE} and {PACKAGE.parent})")


TEMPLATES = _folder("templates")
STATIC = _folder("static")


def _pct(value: Any) -> str:
    return "" if value is None else f"{100 * value:.1f}"


templates = Jinja2Templates(directory=TEMPLATES)
"""The one template environment: every page route renders with it."""
templates.env.filters["pct"] = _pct
