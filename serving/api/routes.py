"""Health, search, chat and document routes. Every content route takes the principal."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from core.errors import SillokError
from serving import asking
from serving.api.bootstrap import ApiServices
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import (
    CHAT,
    METRICS,
    PUBLIC,
    READINESS,
    WITH_BODY,
    ChatReply,
    Health,
    Ready,
    SearchResults,
)
from serving.api.schemas import ChatRequest, SearchRequest
from serving.api.scopes import Scope
from serving.api.streaming import sse_stream, started
from serving.render import search_results

router = APIRouter()


@router.get("/healthz", tags=["health"], response_model=Health, responses=PUBLIC)
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


def _ping_database(container: ApiServices) -> None:
    with container.database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _ping_broker(container: ApiServices) -> None:
    with container.celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


@router.get("/readyz", tags=["health"], response_model=Ready, responses=READINESS)
def readyz(container: ContainerDep) -> JSONResponse:
    """Every dependency this process uses answers; 503 names the one that does not."""
    checks = {"database": _check(lambda: _ping_database(container))}
    if container.runs_worker or container.settings.qdrant.url:
        checks["vector_index"] = _check(container.index.count)
    if container.settings.ingest.broker_url:
        checks["broker"] = _check(lambda: _ping_broker(container))
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        message = f"not ready: {', '.join(failing)}"
        body = {"error": {"code": "dependency_unavailable", "message": message}, "checks": checks}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse, responses=METRICS)
def metrics() -> PlainTextResponse:
    """Prometheus metrics."""
    return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/api/v1/search",
    tags=["search"],
    dependencies=[Scope("search")],
    response_model=SearchResults,
    responses=WITH_BODY,
)
def search(body: SearchRequest, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """Ranked passages the caller may read."""
    return search_results(container.asking.search(principal, body.query, body.top_k, "rest"))


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/api/v1/chat",
    tags=["chat"],
    dependencies=[Scope("chat")],
    response_model=ChatReply,
    responses=CHAT,
)
def chat(
    body: ChatRequest, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any] | StreamingResponse:
    """A grounded answer with citations, kept in the caller's conversation; Server-Sent Events
    (`delta` events, then one `answer` event) when `stream` is true."""
    parts = container.asking.ask(principal, body.message, body.conversation_id, "rest")
    if not body.stream:
        return asking.final(parts).as_dict()
    # The first part is pulled here: an unknown conversation (404) or a full model (429) is the
    # HTTP response itself, before the stream starts.
    return sse_stream(started(parts), _chat_event, _error_event)


def _chat_event(part: str | asking.Reply) -> str:
    if isinstance(part, asking.Reply):
        return _sse("answer", part.as_dict())
    return _sse("delta", {"text": part})


def _error_event(exc: SillokError) -> str:
    return _sse("error", {"error": {"code": exc.code, "message": exc.message}})
