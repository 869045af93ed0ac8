"""What protects the server and its users: security headers on every response, a per-client rate limit on
``/match``, a time limit on each match, and CORS only for the origins a deployment names.

- Headers: a Content-Security-Policy that lets a page load only this server's scripts, styles and images (and
  the webcam's stream), and never be framed (the API docs, ``/docs`` and ``/redoc``, also run inline scripts and
  styles, still from this server only); ``nosniff``; no referrer; the camera for this origin only.
- Rate limit: a token bucket per client address, ``match_rate_per_minute`` tokens a minute up to a burst of
  ``match_burst``; an empty bucket is a 429 with ``Retry-After``, answered before the upload is read. ``0``
  switches it off (a load test, say). Behind a reverse proxy the address is the proxy's unless uvicorn trusts
  its ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``, see the README).
- CORS: closed unless ``cors_origins`` lists origins, which may then call the API from their pages.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
DOCS_CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",  # FastAPI's /docs and /redoc pages start their viewer in an inline script
    "style-src 'self' 'unsafe-inline'",  # Swagger UI and ReDoc style their elements inline
    "img-src 'self' data:",
    "worker-src 'self' blob:",  # ReDoc searches in a web worker
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
"""The API docs' policy: still nothing from another origin (their assets come from this server), but inline
scripts and styles, which FastAPI's docs pages need."""
DOCS_CSP = DOCS_CONTENT_SECURITY_POLICY.encode()
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, DOCS_CSP if docs and n == b"content-security-policy" else v)
                         for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RateLimiter:
    """Token buckets per client key: ``rate_per_minute`` tokens a minute, at most ``burst`` saved up.

    ``take(key)`` spends a token and returns 0, or returns the seconds until the next token when there is none.
    The least recently seen clients are forgotten beyond ``max_clients``, so memory stays bounded."""

    def __init__(self, rate_per_minute: float, burst: int, max_clients: int = 10_000, clock=time.monotonic) -> None:
        if rate_per_minute < 0 or burst < 1:
            raise ValueError("the rate must be >= 0 (0: no limit) and the burst >= 1")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class MatchRateLimit:
    """ASGI middleware: ``POST path`` from a client whose bucket is empty is a 429, before its body is read."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, path: str = "/match") -> None:
        self.app = app
        self.limiter = limiter
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            client = scope.get("client")
            wait = self.limiter.take(client[0] if client else "unknown")
            if wait > 0:
                response = JSONResponse(
                    {"detail": f"too many matches from this address: wait {retry_after(wait)} s and try again"},
                    status_code=429, headers={"Retry-After": retry_after(wait)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
