"""Every error a client can cause, as JSON with a message that says what was wrong and what to do.

``{"detail": "..."}`` with the status below; anything else is a bug and gets a 500 without internals.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.services.matching import IndexNotReadyError
from index.storage import IndexCorruptError, IndexMissingError, ModelMismatchError
from model.faces.photo_decode import ImageDecodeError, ImageTooLargeError, UnsupportedImageError
from model.faces.detector import NoFaceError

log = logging.getLogger("doppelganger")

STATUS = (
    (ImageTooLargeError, 413),
    (UnsupportedImageError, 415),
    (ImageDecodeError, 400),
    (NoFaceError, 422),
    (IndexNotReadyError, 503),
    (IndexMissingError, 503),
    (IndexCorruptError, 503),
    (ModelMismatchError, 503),
)
"""Exception -> HTTP status, first match wins (subclasses before their bases)."""


def status_of(error: Exception) -> int | None:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return None


def install_error_handlers(app: FastAPI) -> None:
    async def known(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status_of(error) or 400)

    for kind, _ in STATUS:
        app.add_exception_handler(kind, known)

    async def damaged_metadata(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": (
            f"the index metadata cannot be read ({error}): the index is damaged; rebuild it with "
            "`doppelganger index build --full` (or from /admin)"
        )}, status_code=503)

    app.add_exception_handler(sqlite3.DatabaseError, damaged_metadata)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # Log the failure, never the request body (it may be a face).
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error: the server failed on this request; please report it"}, status_code=500)

    app.add_exception_handler(Exception, unexpected)
