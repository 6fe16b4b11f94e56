"""Audit routes (admin): the event log as JSON lines, and what a user was shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from core.cursor import decode as cursor_key
from core.cursor import encode as cursor_of
from serving.api.admin import require_admin
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import AUDIT_LINES, FOUND, Seen
from serving.api.schemas import Cursor
from serving.api.scopes import Scope

MAX_AUDIT_PAGE = 10_000
router = APIRouter(prefix="/api/v1/audit", tags=["admin"], dependencies=[Scope("admin")])


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("", response_class=StreamingResponse, responses=AUDIT_LINES)
def export(
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_AUDIT_PAGE, description="events per page")] = None,
) -> StreamingResponse:
    """Matching events as JSON lines, oldest first: all of them, or with `limit` a page, the
    next one named by the `Link` header (`rel="next"`)."""
    require_admin(principal)
    after = int(cursor_key(cursor, int)[0]) if cursor else 0
    events = container.audit.events(
        actor=actor, action=action, since=since and _utc(since), until=until and _utc(until), after=after
    )
    headers = {}
    if limit is not None:
        page = list(islice(events, limit + 1))
        if len(page) > limit:
            page = page[:limit]
            following = request.url.include_query_params(cursor=cursor_of(int(page[-1]["id"])))
            headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        events = iter(page)

    def lines() -> Iterator[str]:
        for event in events:
            yield json.dumps(event, ensure_ascii=False) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)


@router.get("/seen", response_model=Seen, responses=FOUND)
def seen(
    user: str, since: datetime, until: datetime, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any]:
    """Which documents (versions, passages) `user` was shown between `since` and `until`."""
    require_admin(principal)
    user_id = container.users.principal(user).user_id
    return {"user": user, "documents": container.audit.seen(user_id, _utc(since), _utc(until))}
