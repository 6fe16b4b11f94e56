"""Each delivered bot event handled once, and each chat thread's conversation.

Slack and Teams deliver an event again when they think it was not received (Slack after 3 s,
Teams after about 15 s, Socket Mode on reconnect). The first delivery claims the event's row;
its retries find it and do nothing. The generated answer is stored on the row before it is
posted, so a failed post is retried with that answer instead of generating again, and where it
was posted is kept so the message is updated rather than posted twice. A claim whose answer
never came (its process died) may be taken again after `stale_after_s`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import BotDelivery, BotThread, utcnow
from serving.bots.chat import Platform

CLAIMED, ANSWERED, POSTED, FAILED = "claimed", "answered", "posted", "failed"


class Deliveries:
    """The events bots received, keyed by platform and event key."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: int, stale_after_s: float = 300.0) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_s)
        self._stale = timedelta(seconds=stale_after_s)

    def claim(self, platform: Platform, event_key: str) -> str | None:
        """A new correlation id when this delivery is the event's first (or its earlier claim
        went stale without an answer); None for a retry of an event already handled."""
        correlation = str(uuid.uuid4())
        now = utcnow()
        try:
            with self._sessions.begin() as session:
                session.execute(delete(BotDelivery).where(BotDelivery.created_at < now - self._ttl))
                session.add(
                    BotDelivery(
                        platform=platform,
                        event_key=event_key,
                        state=CLAIMED,
                        correlation_id=correlation,
                        created_at=now,
                    )
                )
            return correlation
        except IntegrityError:
            pass
        with self._sessions.begin() as session:
            taken = session.execute(
                update(BotDelivery)
                .where(
                    BotDelivery.platform == platform,
                    BotDelivery.event_key == event_key,
                    BotDelivery.state == CLAIMED,
                    BotDelivery.created_at < now - self._stale,
                )
                .values(correlation_id=correlation, created_at=now)
            )
            return correlation if taken.rowcount == 1 else None  # type: ignore[attr-defined]

    def store(self, platform: Platform, event_key: str, reply: dict[str, Any]) -> None:
        """Keep the generated answer with its event, before it is posted."""
        self._set(platform, event_key, state=ANSWERED, reply=reply)

    def reply(self, platform: Platform, event_key: str) -> dict[str, Any] | None:
        """The answer stored for an event, if one was generated."""
        with self._sessions() as session:
            row = session.get(BotDelivery, (platform, event_key))
            return row.reply if row is not None else None

    def posted(self, platform: Platform, event_key: str, message_ref: str) -> None:
        """Record where the event's answer was posted."""
        self._set(platform, event_key, state=POSTED, message_ref=message_ref)

    def message_ref(self, platform: Platform, event_key: str) -> str | None:
        """Where the event's answer was posted, if it was."""
        with self._sessions() as session:
            row = session.get(BotDelivery, (platform, event_key))
            return row.message_ref if row is not None else None

    def failed(self, platform: Platform, event_key: str) -> None:
        """Mark the event as answered by a failure notice (it is not taken again)."""
        self._set(platform, event_key, state=FAILED)

    def _set(self, platform: Platform, event_key: str, **values: Any) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(BotDelivery)
                .where(BotDelivery.platform == platform, BotDelivery.event_key == event_key)
                .values(**values)
            )


class Threads:
    """Which conversation a chat thread continues, per asker and per audience."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def conversation(self, platform: Platform, thread_key: str, user_id: str) -> str | None:
        """The conversation this asker's thread continues, if it has begun."""
        with self._sessions() as session:
            row = session.get(BotThread, (platform, thread_key, user_id))
            return row.conversation_id if row is not None else None

    def remember(self, platform: Platform, thread_key: str, user_id: str, conversation_id: str) -> None:
        """Bind the thread to the conversation its first answer started."""
        try:
            with self._sessions.begin() as session:
                session.add(
                    BotThread(
                        platform=platform,
                        thread_key=thread_key,
                        user_id=user_id,
                        conversation_id=conversation_id,
                    )
                )
        except IntegrityError:
            pass  # a concurrent first answer in the same thread already bound it
