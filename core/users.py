"""Users, groups and API keys in SQL, and the one place a credential becomes a `Principal`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.acl import Principal, valid_name
from core.cursor import MAX_PAGE
from core.cursor import decode as cursor_key
from core.cursor import encode as cursor_of
from core.db.models import ApiKey, Group, Membership, User, WebSession, iso
from core.errors import Conflict, Forbidden, InvalidInput, NotFound

KEY_PREFIX = "slk_"
# What an API key may be limited to; a key with none of them listed has every right of its owner.
SCOPES = ("search", "chat", "documents:read", "documents:write", "admin")
LAST_USED_RESOLUTION = timedelta(minutes=1)  # how stale a key's `last_used_at` may be
BOOTSTRAP_ADMIN = "admin"


class ScopeExceedsOwner(Forbidden):
    """A key asked for a scope its owner does not have (only admins' keys may hold `admin`)."""

    code = "scope_exceeds_owner"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _key_scopes(scopes: Iterable[str] | None, owner: User) -> list[str] | None:
    """The scopes to store for a new key of `owner` (None: all of the owner's rights)."""
    if scopes is None:
        return None
    names = sorted(set(scopes))
    unknown = [n for n in names if n not in SCOPES]
    if unknown:
        raise InvalidInput(f"unknown scope(s) {', '.join(unknown)}; scopes are {', '.join(SCOPES)}")
    if not names:
        raise InvalidInput("give at least one scope, or leave scopes out for all of the owner's rights")
    if "admin" in names and not owner.is_admin:
        raise ScopeExceedsOwner(
            f"{owner.username} is not an admin, so their keys cannot have the admin scope"
        )
    return names


def _key_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    moment = _aware(expires_at)
    if moment <= datetime.now(UTC):
        raise InvalidInput("expires_at must be in the future")
    return moment


def hash_key(key: str) -> str:
    """SHA-256 of an API key (keys are random, so a plain digest is safe to store)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _record(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "email": user.email,
        "groups": sorted(m.group.name for m in user.memberships),
        "admin": user.is_admin,
        "service": user.is_service,
        "created_at": iso(user.created_at),
    }


def principal_of(user: User) -> Principal:
    """The principal of a user row: its immutable id, name, groups and role."""
    groups = frozenset(m.group.name for m in user.memberships)
    return Principal(user.username, groups, user.is_admin, user.uid)


class UserDirectory:
    """Creates users, groups and keys, and resolves credentials to principals."""

    def __init__(self, sessions: sessionmaker[Session], bootstrap_token: str | None = None) -> None:
        self._sessions = sessions
        self._bootstrap_token = bootstrap_token

    def add_user(
        self,
        username: str,
        email: str | None = None,
        groups: Iterable[str] = (),
        admin: bool = False,
        service: bool = False,
    ) -> Principal:
        """Create a user, or update an existing one's email, groups and role (idempotent).

        `service` makes it a service account, which never signs in and acts only by API key;
        Conflict for an existing user who can sign in (a password or an identity provider).
        """
        names = sorted(set(groups))
        bad = [n for n in [username, *names] if not valid_name(n)]
        if bad:
            raise InvalidInput(f"invalid user or group name(s): {', '.join(bad)}")
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = User(username=username)
                session.add(user)
            if service and not user.is_service:
                if user.password_hash is not None or user.oidc_subject is not None:
                    raise Conflict(f"{username} can sign in, so it cannot become a service account")
                user.is_service = True
            user.email = email or user.email
            user.is_admin = admin or user.is_admin
            self._set_groups(session, user, names)
            session.flush()
            return principal_of(user)

    def provision_oidc(
        self, username: str, subject: str, email: str | None, groups: Iterable[str]
    ) -> Principal:
        """Create or update the user bound to an identity-provider `subject` (issuer and `sub`).

        A new user is bound on creation; an existing one only if nothing binds it yet and it has
        no local password (an account an administrator created ahead of the first sign-in).
        Conflict when the name belongs to a local account or to another subject, or when the
        subject is bound to another name: an identity provider never takes over an account.
        """
        names = sorted(set(groups))
        if any(not valid_name(n) for n in [username, *names]):
            raise InvalidInput("invalid user or group name")
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                if session.scalar(select(User.id).where(User.oidc_subject == subject)) is not None:
                    raise Conflict("this identity is bound to another user name")
                user = User(username=username, oidc_subject=subject)
                session.add(user)
            elif user.oidc_subject != subject:
                if user.oidc_subject is not None or user.password_hash is not None or user.is_service:
                    raise Conflict("the user name belongs to another account")
                user.oidc_subject = subject
            user.email = email or user.email
            self._set_groups(session, user, names)
            session.flush()
            return principal_of(user)

    def set_groups(self, username: str, groups: Iterable[str]) -> Principal:
        """Replace a user's group memberships."""
        names = sorted(set(groups))
        if any(not valid_name(n) for n in names):
            raise InvalidInput("invalid group name")
        with self._sessions.begin() as session:
            user = self._user(session, username)
            self._set_groups(session, user, names)
            session.flush()
            return principal_of(user)

    @staticmethod
    def _set_groups(session: Session, user: User, names: list[str]) -> None:
        existing = {g.name: g for g in session.scalars(select(Group).where(Group.name.in_(names)))}
        for name in names:
            if name not in existing:
                existing[name] = Group(name=name)
                session.add(existing[name])
        kept = [m for m in user.memberships if m.group.name in names]
        held = {m.group.name for m in kept}
        user.memberships = kept + [Membership(group=existing[n]) for n in names if n not in held]

    def remove_user(self, username: str) -> None:
        """Delete a user; their API keys and web sessions stop working at once, and a user
        created later under the same name gets a new id: none of this one's documents, ACL
        entries or history. The built-in admin cannot be removed while its token is set: it
        would come back at its next request as a new user, without its documents."""
        if username == BOOTSTRAP_ADMIN and self._bootstrap_token:
            raise Conflict("the built-in admin stays while SILLOK_BOOTSTRAP_ADMIN_TOKEN is set")
        with self._sessions.begin() as session:
            user = self._user(session, username)
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            session.delete(user)

    def issue_key(
        self, username: str, scopes: Iterable[str] | None = None, expires_at: datetime | None = None
    ) -> str:
        """A new API key for the user; only its hash is stored, so it is shown once.

        `scopes` limits it to some of `SCOPES` (None: every right of its owner; never more: only
        an admin's key may hold `admin`); `expires_at` ends it (None: it lasts until revoked).
        """
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            user = self._user(session, username)
            session.add(
                ApiKey(
                    user_id=user.id,
                    prefix=key[:12],
                    key_hash=hash_key(key),
                    scopes=_key_scopes(scopes, user),
                    expires_at=_key_expiry(expires_at),
                )
            )
        return key

    def is_service(self, username: str) -> bool:
        """True when `username` is a service account (False for an unknown name)."""
        with self._sessions() as session:
            flag = session.scalar(select(User.is_service).where(User.username == username))
            return bool(flag)

    def revoke_key(self, username: str, prefix: str) -> None:
        """Revoke the user's key that starts with `prefix`; it stops working at once."""
        with self._sessions.begin() as session:
            user = self._user(session, username)
            key = session.scalar(
                select(ApiKey).where(
                    ApiKey.user_id == user.id, ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)
                )
            )
            if key is None:
                raise NotFound("no such active key")
            key.revoked_at = datetime.now(UTC)

    def keys(self, username: str) -> list[dict[str, object]]:
        """The user's keys: prefix, scopes (None: all of the owner's rights), expiry, creation,
        last use and revocation (never the key itself)."""
        with self._sessions() as session:
            user = self._user(session, username)
            rows = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id))
            return [
                {
                    "prefix": k.prefix,
                    "created_at": iso(k.created_at),
                    "last_used_at": iso(k.last_used_at),
                    "revoked_at": iso(k.revoked_at),
                    "scopes": k.scopes,
                    "expires_at": iso(k.expires_at),
                }
                for k in rows
            ]

    def describe(self, username: str) -> dict[str, object]:
        """A user's public record."""
        with self._sessions() as session:
            return _record(self._user(session, username))

    def list_users(
        self, cursor: str | None = None, limit: int = MAX_PAGE
    ) -> tuple[list[dict[str, object]], str | None]:
        """A page of users by name after `cursor`, and the next page's cursor (None: the last)."""
        query = select(User).order_by(User.username).limit(limit + 1)
        if cursor:
            query = query.where(User.username > str(cursor_key(cursor, str)[0]))
        with self._sessions() as session:
            rows = session.scalars(query).all()
            more = len(rows) > limit
            return [_record(u) for u in rows[:limit]], cursor_of(rows[limit - 1].username) if more else None

    def list_groups(
        self, cursor: str | None = None, limit: int = MAX_PAGE
    ) -> tuple[list[dict[str, object]], str | None]:
        """A page of groups by name with their members after `cursor`, and the next cursor."""
        query = select(Group).order_by(Group.name).limit(limit + 1)
        if cursor:
            query = query.where(Group.name > str(cursor_key(cursor, str)[0]))
        with self._sessions() as session:
            rows = session.scalars(query).all()
            more = len(rows) > limit
            groups: list[dict[str, object]] = [
                {"name": g.name, "members": sorted(m.user.username for m in g.memberships)}
                for g in rows[:limit]
            ]
            return groups, cursor_of(rows[limit - 1].name) if more else None

    def principal(self, username: str) -> Principal:
        """The principal of an existing user (for trusted entrances such as the local CLI)."""
        if username == BOOTSTRAP_ADMIN and self._bootstrap_token:
            return self._bootstrap_admin()
        with self._sessions() as session:
            return principal_of(self._user(session, username))

    def _bootstrap_admin(self) -> Principal:
        """The built-in admin's principal; its row is created on first use, so it has an id."""
        with self._sessions() as session:
            user = session.scalar(select(User).where(User.username == BOOTSTRAP_ADMIN))
            if user is not None:
                return Principal(BOOTSTRAP_ADMIN, principal_of(user).groups, True, user.uid)
        try:
            with self._sessions.begin() as session:
                user = User(username=BOOTSTRAP_ADMIN, is_admin=True)
                session.add(user)
                session.flush()
                return Principal(BOOTSTRAP_ADMIN, frozenset(), True, user.uid)
        except IntegrityError:  # another request created it first
            return self._bootstrap_admin()

    def ids_for(self, usernames: Iterable[str]) -> dict[str, str]:
        """The immutable ids of existing users by name; InvalidInput naming any unknown one."""
        names = set(usernames)
        if not names:
            return {}
        with self._sessions() as session:
            found = dict(
                session.execute(select(User.username, User.uid).where(User.username.in_(names))).all()
            )
        unknown = sorted(names - found.keys())
        if unknown:
            raise InvalidInput(f"no user named {', '.join(unknown)}")
        return found

    def names_for(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Current names of the users with these ids (ids of removed users are left out)."""
        ids = set(user_ids)
        if not ids:
            return {}
        with self._sessions() as session:
            query = select(User.uid, User.username).where(User.uid.in_(ids))
            return dict(session.execute(query).tuples().all())

    def oidc_principal(self, username: str, subject: str) -> Principal | None:
        """The principal of `username` if that user is bound to the identity-provider `subject`."""
        with self._sessions() as session:
            user = session.scalar(select(User).where(User.username == username, User.oidc_subject == subject))
            return principal_of(user) if user is not None else None

    def authenticate_key(self, key: str) -> Principal | None:
        """The principal holding a valid, unrevoked, unexpired API key, or None. It carries the
        key's prefix and scopes; its groups and role are the owner's as they are now."""
        if self._bootstrap_token and hmac.compare_digest(key.encode(), self._bootstrap_token.encode()):
            return self._bootstrap_admin()
        if not key.startswith(KEY_PREFIX):
            return None
        with self._sessions() as session:
            row = session.scalar(
                select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
            )
            now = datetime.now(UTC)
            if row is None or (row.expires_at is not None and _aware(row.expires_at) <= now):
                return None
            owner = principal_of(row.user)
            scopes = frozenset(row.scopes) if row.scopes is not None else None
            principal = replace(owner, key_prefix=row.prefix, scopes=scopes)
            last = row.last_used_at
            if last is None or now - _aware(last) > LAST_USED_RESOLUTION:
                # A write per request would queue every request behind the database's write lock.
                row.last_used_at = now
                session.commit()
            return principal

    @staticmethod
    def _user(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named {username!r}")
        return user
