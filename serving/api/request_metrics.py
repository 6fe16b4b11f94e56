"""Request latency per route template (never the raw path: ids would explode the series)."""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Histogram(
    "sillok_http_request_seconds",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def _template(scope: Scope) -> str:
    """The matched route's path template (the router leaves the route in the scope)."""
    return str(getattr(scope.get("route"), "path", None) or "unmatched")


class RequestMetrics:
    """Times every HTTP request to its last byte and records it under its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, timing it."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            REQUESTS.labels(_template(scope), scope["method"], str(status)).observe(
                time.perf_counter() - started
            )
