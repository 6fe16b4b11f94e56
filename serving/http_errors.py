"""Every API error is JSON `{"error": {"code", "message"}}`; no stack trace ever reaches a client.

A client that goes away mid-request is a normal outcome, noted at info level. Anything else
unexpected is logged once, as a plain record (type, message, traceback without local
variables) that the logging thread renders and masks (`serving.logs`), and answered with 500.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import SillokError

log = structlog.get_logger(__name__)
_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}
_INTERNAL = "an unexpected error occurred; it has been logged"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one shape of every error body."""
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def sillok_error_response(exc: SillokError, headers: dict[str, str] | None = None) -> JSONResponse:
    """A Sillok error as its JSON response (`Retry-After` included when it has one)."""
    headers = dict(headers or {})
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return error_response(exc.status, exc.code, exc.message, headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names only those
    of the first route that matched the path, though several may share it)."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if context.path and context.methods and compile_path(context.path)[0].match(request.url.path):
            methods |= set(context.methods)
    return ", ".join(sorted(methods))


def client_went_away(exc: BaseException) -> bool:
    """Whether `exc` only says that the client disconnected (possibly inside a task group)."""
    if isinstance(exc, ClientDisconnect):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(client_went_away(e) for e in exc.exceptions)
    return False


class ErrorBoundary:
    """Pure ASGI middleware: disconnects end quietly, surprises are logged once and become 500s.

    It sits inside the security headers and outside everything else, so the exception never
    reaches Starlette's server-error middleware or uvicorn, which would log it again.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; translate what escapes it."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracking)
        except Exception as exc:
            path = scope.get("path", "")
            if client_went_away(exc):
                log.info("client_disconnected", path=path, method=scope.get("method"))
                return
            log.error("unhandled_error", path=path, method=scope.get("method"), exc_info=exc)
            if not started:
                await error_response(500, "internal_error", _INTERNAL)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Map Sillok errors, validation errors, HTTP errors and surprises to JSON."""

    @app.exception_handler(SillokError)
    async def _sillok(_: Request, exc: SillokError) -> JSONResponse:
        return sillok_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return error_response(400, "invalid_input", problems or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only reached for errors outside ErrorBoundary (the security headers themselves).
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return error_response(500, "internal_error", _INTERNAL)
