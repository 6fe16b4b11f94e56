"""The audit log in SQL: who asked or changed what, through which channel, and what they saw.

Every passage shown to a user is also stored as a row of its own, so "which documents did this
user see between T1 and T2" is one indexed query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.acl import Principal
from core.db.models import AuditEvent, AuditView, iso


@dataclass(frozen=True)
class Shown:
    """A passage a user was shown."""

    document_id: str
    version: str | None
    chunk_id: str | None


class AuditLog:
    """Appends events and answers questions about them; nothing here is ever updated."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self,
        actor: Principal | str | None,
        action: str,
        channel: str,
        detail: dict[str, Any],
        shown: Sequence[Shown] = (),
    ) -> None:
        """Append one event and the passages it showed.

        `actor` is the principal who acted, or only a name when nobody was authenticated (a
        failed sign-in names the account it tried).
        """
        now = datetime.now(UTC)
        if isinstance(actor, Principal) and actor.key_prefix:
            detail = {**detail, "key_prefix": actor.key_prefix}  # which API key acted
        name, actor_id = (
            (actor.username, actor.user_id or None) if isinstance(actor, Principal) else (actor, None)
        )
        with self._sessions.begin() as session:
            event = AuditEvent(
                at=now, actor=name, actor_id=actor_id, action=action, channel=channel, detail=detail
            )
            session.add(event)
            session.flush()
            session.add_all(
                AuditView(
                    event_id=event.id,
                    at=now,
                    actor=name or "",
                    actor_id=actor_id,
                    document_id=s.document_id,
                    version=s.version,
                    chunk_id=s.chunk_id,
                )
                for s in shown
            )

    def events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Matching events with ids above `after`, oldest first, as JSON-ready dicts (streamed
        in pages)."""
        query = select(AuditEvent).order_by(AuditEvent.id)
        if actor is not None:
            query = query.where(AuditEvent.actor == actor)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        last = after
        while True:
            with self._sessions() as session:
                page = session.scalars(query.where(AuditEvent.id > last).limit(500)).all()
            if not page:
                return
            for event in page:
                yield {
                    "id": event.id,
                    "at": iso(event.at),
                    "actor": event.actor,
                    "action": event.action,
                    "channel": event.channel,
                    "detail": event.detail,
                }
            last = page[-1].id

    def seen(self, actor_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The documents the user with id `actor_id` was shown in [since, until), with versions,
        passages and times (an earlier account that had the same name is another user)."""
        query = (
            select(
                AuditView.document_id,
                func.count(AuditView.id),
                func.min(AuditView.at),
                func.max(AuditView.at),
            )
            .where(AuditView.actor_id == actor_id, AuditView.at >= since, AuditView.at < until)
            .group_by(AuditView.document_id)
            .order_by(func.min(AuditView.at))
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
            versions: dict[str, set[str]] = {}
            for doc, version in session.execute(
                select(AuditView.document_id, AuditView.version).where(
                    AuditView.actor_id == actor_id, AuditView.at >= since, AuditView.at < until
                )
            ):
                if version:
                    versions.setdefault(doc, set()).add(version)
        return [
            {
                "document_id": doc,
                "versions": sorted(versions.get(doc, ())),
                "passages": count,
                "first_seen": iso(first),
                "last_seen": iso(last),
            }
            for doc, count, first, last in rows
        ]
