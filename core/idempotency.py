"""Idempotency keys: a retried request gets the first answer, not a second effect.

A client that did not see the answer to a write (a timeout, a dropped connection) sends it again
with the same `Idempotency-Key`; the first answer is stored under the caller and the key, with
a fingerprint of what was asked, and replayed. The same key for a different request is refused
(409), so a client bug cannot silently return someone else's answer. Keys last a day.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import IdempotentReply, utcnow
from core.errors import Conflict, InvalidInput

KEY_LIFETIME = timedelta(days=1)
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP header values carry


def valid_key(key: str) -> str:
    """The key itself, or InvalidInput when it is empty, too long or not visible ASCII."""
    if not _VALID_KEY.fullmatch(key):
        raise InvalidInput("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


def fingerprint(request: object) -> str:
    """The SHA-256 of a JSON-serialisable description of what a request asks for."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyKeys:
    """Stored first answers, per caller and key."""

    def __init__(self, sessions: sessionmaker[Session], lifetime: timedelta = KEY_LIFETIME) -> None:
        self._sessions = sessions
        self._lifetime = lifetime

    def replay(self, user_id: str, key: str, asked: str) -> tuple[int, dict[str, Any]] | None:
        """The stored (status, body) for this key, None when there is none yet; Conflict when
        the key answered a different request."""
        with self._sessions() as session:
            reply = session.get(IdempotentReply, (user_id, key))
            if reply is None or self._expired(reply.created_at):
                return None
            if reply.fingerprint != asked:
                raise Conflict("this Idempotency-Key was used for a different request; use a new key")
            return reply.status_code, dict(reply.body)

    def remember(self, user_id: str, key: str, asked: str, status: int, body: dict[str, Any]) -> None:
        """Keep the first answer; a concurrent request that stored one first keeps its own.
        Every caller's expired answers go at the same time, so fresh keys cannot pile up."""
        try:
            with self._sessions.begin() as session:
                session.execute(
                    delete(IdempotentReply).where(IdempotentReply.created_at < utcnow() - self._lifetime)
                )
                session.add(
                    IdempotentReply(
                        user_id=user_id, key=key, fingerprint=asked, status_code=status, body=body
                    )
                )
        except IntegrityError:
            pass  # the other request's answer stands; its retries replay that one

    def _expired(self, created_at: datetime) -> bool:
        moment = created_at if created_at.tzinfo else created_at.replace(tzinfo=utcnow().tzinfo)
        return moment < utcnow() - self._lifetime
