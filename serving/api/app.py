"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI

from serving.api import admin, audit, auth, conversations, documents, openai_compat, webui
from serving.api.bootstrap import ApiServices
from serving.api.deps import authenticate
from serving.api.docs import install_docs
from serving.api.gate import EdgeGate
from serving.api.request_metrics import RequestMetrics
from serving.api.route_table import RouteTable
from serving.api.routes import router
from serving.api.security import install_security
from serving.http_errors import ErrorBoundary, install_error_handlers
from serving.logs import RequestIds
from serving.metrics import register_ingestion_metrics

_MULTIPART_SLACK = 1_000_000  # field names, boundaries and the ACL around the file
UPLOAD_ROUTES = frozenset({("POST", "/api/v1/documents")})  # multipart, streamed to disk
# Sync routes and every pull of an answer stream run in the thread pool; anyio's default of 40
# would queue the twenty-first concurrent chat behind the others' pieces.
API_THREADS = 200


@asynccontextmanager
async def _threads(_: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS
    yield


def create_app(container: ApiServices, hosted: Sequence[APIRouter] = ()) -> FastAPI:
    """The API bound to one container; nothing is created at import time. `hosted` are routers
    of other entrances this process also serves (the bots' platform routes, composed by the CLI)."""
    app = FastAPI(
        title="Sillok",
        version="1",
        description="Private answers over company documents, with per-user access control.",
        docs_url=None,  # FastAPI's pages load from a CDN: /docs is served offline by `install_docs`
        redoc_url=None,
        lifespan=_threads,
    )
    app.state.container = container
    install_error_handlers(app)
    app.include_router(router)
    for module in (auth, documents, conversations, admin, audit, openai_compat):
        app.include_router(module.router)
    for other in hosted:
        app.include_router(other)
    webui.mount(app)
    install_docs(app, authenticate)
    register_ingestion_metrics(container.documents.status_counts)
    upload_limit = container.settings.ingest.max_file_mb * 1_000_000 + _MULTIPART_SLACK
    table = RouteTable(app, authenticate, UPLOAD_ROUTES)
    app.add_middleware(EdgeGate, table=table, container=container, upload_max_bytes=upload_limit)
    app.add_middleware(ErrorBoundary)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestIds)  # outside the metrics and errors: every line carries the id
    install_security(app, container.settings)  # outermost: every response gets the headers
    return app
