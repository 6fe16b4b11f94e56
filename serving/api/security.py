"""Security headers on every response and CORS that is closed unless origins are configured.

The CSP allows only this origin's own scripts, styles, images (plus `data:` images) and
connections: no inline script, no remote image, no framing. Responses under `/api` and `/v1`
carry answers and document content, so browsers and proxies must not store them. Only the
configured origins get CORS headers (no credentials: the API takes bearer tokens, not cookies);
preflights from them are answered here, preflights from any other origin are refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from serving.http_errors import error_response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
NO_STORE_PREFIXES = ("/api/", "/v1/")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "authorization, content-type"
CORS_EXPOSE = "retry-after, content-disposition"
PREFLIGHT_MAX_AGE_S = 600


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers above; handles CORS for the allowed origins."""

    def __init__(self, app: ASGIApp, cors_origins: Iterable[str] = ()) -> None:
        self._app = app
        self._origins = frozenset(o.lower().rstrip("/") for o in cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer preflights; decorate every other response's headers."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        allowed = origin is not None and origin.lower() in self._origins
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in request_headers:
            await self._preflight(scope, receive, send, origin if allowed else None)
            return
        path: str = scope.get("path", "")
        https = scope.get("scheme") == "https"

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                self._secure(headers, path, https)
                if allowed and origin:
                    headers["access-control-allow-origin"] = origin
                    headers["access-control-expose-headers"] = CORS_EXPOSE
                if self._origins:
                    headers.add_vary_header("Origin")
            await send(message)

        await self._app(scope, receive, decorated)

    @staticmethod
    def _secure(headers: MutableHeaders, path: str, https: bool) -> None:
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value
        if path.startswith(NO_STORE_PREFIXES) or path in ("/api", "/v1"):
            headers["cache-control"] = "no-store"
        if https:
            headers.setdefault("strict-transport-security", "max-age=31536000")

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, origin: str | None) -> None:
        response: Response
        if origin is None:
            response = error_response(
                403, "forbidden", "cross-origin requests from this origin are not allowed"
            )
        else:
            response = Response(
                status_code=204,
                headers={
                    "access-control-allow-origin": origin,
                    "access-control-allow-methods": CORS_METHODS,
                    "access-control-allow-headers": CORS_HEADERS,
                    "access-control-max-age": str(PREFLIGHT_MAX_AGE_S),
                },
            )
        self._secure(response.headers, scope.get("path", ""), scope.get("scheme") == "https")
        response.headers.add_vary_header("Origin")
        await response(scope, receive, send)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Security headers and CORS, outermost."""
    app.add_middleware(SecurityHeaders, cors_origins=settings.limits.cors_origins)
