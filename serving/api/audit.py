"""Audit routes (admin): the event log as JSON lines, and what a user was shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from serving.api.admin import require_admin
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import AUDIT_LINES, FOUND, Seen
from serving.api.scopes import Scope

router = APIRouter(prefix="/api/v1/audit", tags=["admin"], dependencies=[Scope("admin")])


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("", response_class=StreamingResponse, responses=AUDIT_LINES)
def export(
    principal: CurrentPrincipal,
    container: ContainerDep,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """Matching events as JSON lines, oldest first."""
    require_admin(principal)
    events = container.audit.events(
        actor=actor, action=action, since=since and _utc(since), until=until and _utc(until)
    )

    def lines() -> Iterator[str]:
        for event in events:
            yield json.dumps(event, ensure_ascii=False) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/seen", response_model=Seen, responses=FOUND)
def seen(
    user: str, since: datetime, until: datetime, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any]:
    """Which documents (versions, passages) `user` was shown between `since` and `until`."""
    require_admin(principal)
    user_id = container.users.principal(user).user_id
    return {"user": user, "documents": container.audit.seen(user_id, _utc(since), _utc(until))}
