"""Browser sessions for the web UI: a random cookie (stored hashed) and a CSRF token.

A session belongs to a user row, so removing the user ends every session at once; group
changes apply to the next request because the principal is read fresh each time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.acl import Principal
from core.db.models import User, WebSession
from core.errors import NotFound
from core.users import principal_of

LIFETIME = timedelta(hours=12)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OpenSession:
    """A session as the browser receives it (the cookie value is shown only here)."""

    token: str
    csrf: str
    expires_at: datetime


class WebSessions:
    """Opens, resolves and closes browser sessions."""

    def __init__(self, sessions: sessionmaker[Session], lifetime: timedelta = LIFETIME) -> None:
        self._sessions = sessions
        self._lifetime = lifetime

    def open(self, username: str) -> OpenSession:
        """A new session for an existing user."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + self._lifetime
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"no user named {username!r}")
            session.execute(delete(WebSession).where(WebSession.expires_at < datetime.now(UTC)))
            session.add(WebSession(id=_digest(token), user_id=user.id, csrf=csrf, expires_at=expires))
        return OpenSession(token, csrf, expires)

    def resolve(self, token: str) -> tuple[Principal, str] | None:
        """The principal and CSRF token of a live session, or None."""
        with self._sessions() as session:
            row = session.get(WebSession, _digest(token))
            if row is None:
                return None
            expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
            if expires < datetime.now(UTC):
                return None
            return principal_of(row.user), row.csrf

    def close(self, token: str) -> None:
        """End a session (logout)."""
        with self._sessions.begin() as session:
            session.execute(delete(WebSession).where(WebSession.id == _digest(token)))
