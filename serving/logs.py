"""Logging: plain structured lines (JSON or key=value), masked, written by a background thread.

Every record, from structlog or from a library (uvicorn, Celery, SQLAlchemy), goes to one queue
on the root logger; a listener thread formats it (tracebacks as plain text, never with local
variables), masks secrets (`serving.redact`) and writes it to stderr and, when configured, to a
log file created readable by its owner only. A request that logs an error therefore never waits
for its traceback to be rendered or written.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any, Literal

import structlog
from opentelemetry.trace import SpanKind
from structlog.typing import EventDict, WrappedLogger

from core.settings import Settings
from core.telemetry import current_trace_id, tracer
from serving.redact import RedactingFilter, Redactor

_QUIET = ("alembic", "sentence_transformers", "httpx", "httpcore", "multipart")
_listener: logging.handlers.QueueListener | None = None
_handoff: logging.Handler | None = None


class _Handoff(logging.handlers.QueueHandler):
    """Puts records on the queue as they are: formatting happens in the listener thread."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record itself (the default would format it, traceback included, on this thread)."""
        return record


class PrivateFileHandler(logging.handlers.WatchedFileHandler):
    """A log file created (and re-created after rotation) with mode 0600."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # an existing file is narrowed too
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)


def _exc_info_now(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Resolve `exc_info=True` on the calling thread (the listener thread has no exception)."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _trace_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Add the current trace id (read on the calling thread, where the span is current)."""
    trace_id = current_trace_id()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
    return event_dict


def _formatter(fmt: Literal["json", "keyvalue"], redactor: Redactor) -> logging.Formatter:
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"])
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # traceback.format_exception: frames, no locals
            redactor,
            renderer,
        ],
    )


def configure_logging(settings: Settings) -> None:
    """Route every log record through a queue to masked, plain-text handlers (idempotent)."""
    secrets = (
        settings.bootstrap_admin_token,
        settings.qdrant.api_key,
        settings.llm.api_key,
        settings.oidc.client_secret,
    )
    start_logging(
        settings.log_level,
        settings.log_format,
        settings.log_file,
        [s.get_secret_value() for s in secrets if s is not None],
    )


def start_logging(
    level: str,
    fmt: Literal["json", "keyvalue"] = "json",
    log_file: Path | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Start the listener thread and its handlers, replacing any earlier configuration."""
    global _listener, _handoff
    stop_logging()
    redactor = Redactor(secrets)
    formatter = _formatter(fmt, redactor)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]  # stdout is for results
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(PrivateFileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _handoff = _Handoff(records)
    _handoff.addFilter(RedactingFilter(redactor))  # library messages are masked before they queue
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    _listener.start()
    root = logging.getLogger()
    root.addHandler(_handoff)
    root.setLevel(level)
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _exc_info_now,
            _trace_id,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def stop_logging() -> None:
    """Write out what is queued and detach the handlers (at exit, or before reconfiguring)."""
    global _listener, _handoff
    if _handoff is not None:
        logging.getLogger().removeHandler(_handoff)
        _handoff = None
    if _listener is not None:
        _listener.stop()
        for handler in _listener.handlers:
            handler.close()
        _listener = None


atexit.register(stop_logging)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # anything else is replaced, never logged
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_id_of(value: str | None) -> str:
    """The caller's `X-Request-ID` when it is a plain short token, else a new one."""
    return value if value is not None and _REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class RequestIds:
    """ASGI middleware: a request id bound into every log line of the request (and sent back in
    `X-Request-ID`), under a server span named by the route template, never the raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the id, open the span, add the header to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), None)
        request_id = request_id_of(given.decode("latin-1") if given is not None else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                span.set_attribute("http.response.status_code", message["status"])
            await send(message)

        method = scope.get("method", "")
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            tracer.start_as_current_span(method, kind=SpanKind.SERVER) as span,
        ):
            span.set_attribute("http.request.method", method)
            span.set_attribute("sillok.request_id", request_id)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
