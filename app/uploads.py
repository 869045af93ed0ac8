"""Uploads stay in memory, and oversized ones are refused before they are read.

Starlette parses a multipart body into ``SpooledTemporaryFile``s that move to disk past 1 MiB, so a phone photo
sent to ``/match`` would be written to the temporary folder. Uploaded photos are biometric data: ``keep_in_memory``
raises that threshold above the upload limit, and ``UploadLimit`` answers 413 before reading a ``/match`` request
whose ``Content-Length`` is over the limit (411 when it gives none), so the memory an upload takes stays bounded.
"""

from __future__ import annotations

import json

from starlette.formparsers import MultiPartParser
from starlette.types import ASGIApp, Receive, Scope, Send
from model.faces.photo_decode import human_size

MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart headers and boundaries around the file itself."""


def keep_in_memory(max_bytes: int) -> None:
    """Multipart files up to ``max_bytes`` (plus overhead) are never spooled to disk."""
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_bytes + MULTIPART_OVERHEAD)


class UploadLimit:
    """ASGI middleware for ``paths``: 413 when ``Content-Length`` exceeds ``max_bytes`` (plus overhead), 411 when
    the request does not say its length (it would have to be read to be measured)."""

    def __init__(self, app: ASGIApp, max_bytes: int, paths: tuple[str, ...] = ("/match",)) -> None:
        self.app = app
        self.limit = max_bytes + MULTIPART_OVERHEAD
        self.max_bytes = max_bytes
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            length = dict(scope.get("headers") or []).get(b"content-length", b"")
            if not length.isdigit():
                await _refuse(send, 411, "send the upload with a Content-Length header (a plain multipart form post does)")
                return
            if int(length) > self.limit:
                await _refuse(send, 413, f"the file is larger than {human_size(self.max_bytes)}: upload a smaller version of it")
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
