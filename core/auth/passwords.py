"""Passwords of local accounts (the embedded default's web login), hashed with argon2id.

A wrong password, a user without one and an unknown user all cost one argon2 verification and
answer False, so response times do not reveal which usernames exist.
"""

from __future__ import annotations

import unicodedata
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import User, WebSession
from core.errors import InvalidInput, NotFound

MIN_LENGTH = 12
MAX_LENGTH = 1024  # longer input only costs hashing time


def _normalise(password: str) -> str:
    # The same password typed on another keyboard or OS must match (NFKC, as NIST SP 800-63B asks).
    return unicodedata.normalize("NFKC", password)


class PasswordStore:
    """Sets and checks the argon2id password hashes kept in `users.password_hash`."""

    def __init__(self, sessions: sessionmaker[Session], hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()  # argon2id with the library's RFC 9106 defaults

    @cached_property
    def _dummy_hash(self) -> str:
        """A hash with the current parameters, verified when there is no real one to verify."""
        return self._hasher.hash("no account has this password")

    def set_password(self, username: str, password: str) -> None:
        """Store a new password for an existing user and end every web session they have open
        (a changed password locks out whoever knew the old one); InvalidInput when it is too
        short or too long."""
        password = _normalise(password)
        if len(password) < MIN_LENGTH:
            raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
        if len(password) > MAX_LENGTH:
            raise InvalidInput(f"a password may have at most {MAX_LENGTH} characters")
        hashed = self._hasher.hash(password)
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"no user named {username!r}")
            user.password_hash = hashed
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))

    def clear_password(self, username: str) -> None:
        """Remove a user's password and end their web sessions: they can no longer sign in with one."""
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"no user named {username!r}")
            user.password_hash = None
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))

    def check(self, username: str, password: str) -> bool:
        """True when `password` is the user's; a stored hash with outdated parameters is renewed."""
        password = _normalise(password)
        stored = None
        if len(password) <= MAX_LENGTH:  # a longer one cannot have been set
            with self._sessions() as session:
                stored = session.scalar(select(User.password_hash).where(User.username == username))
        if not stored:
            self._verify(self._dummy_hash, password[:MAX_LENGTH])  # the same cost as a real check
            return False
        if not self._verify(stored, password):
            return False
        if self._hasher.check_needs_rehash(stored):
            self._rehash(username, stored, password)
        return True

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _rehash(self, username: str, old: str, password: str) -> None:
        renewed = self._hasher.hash(password)
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is not None and user.password_hash == old:  # unless it was changed meanwhile
                user.password_hash = renewed
