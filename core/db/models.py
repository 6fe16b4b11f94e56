"""SQL schema (SQLAlchemy 2 declarative). Alembic migrations in `core/db/migrations` mirror it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the schema uses."""
    return datetime.now(UTC)


def new_user_id() -> str:
    """A fresh immutable user id (never reused, unlike a name or an integer row id)."""
    return str(uuid.uuid4())


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite returns naive datetimes; every stored time is UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    """A person or service account. `uid` is its identity in ACL tokens, conversations, feedback
    and the audit log; `username` is how people name it, and may be given to someone else later."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True, index=True, default=new_user_id)
    username: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # "<issuer> <subject>" of the identity-provider account this user is bound to, if any.
    oidc_subject: Mapped[str | None] = mapped_column(String(512), unique=True, index=True)
    # A service account never signs in (no password, no identity provider); it acts by API key.
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Group(Base):
    """A named set of users, granted access through `group:<name>` tokens."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="group", cascade="all, delete-orphan")


class Membership(Base):
    """A user's membership of a group."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "group_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)

    user: Mapped[User] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship(back_populates="memberships")


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Scope names the key is limited to; None: every right of its owner (keys from before scopes).
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="api_keys")


class Document(Base):
    """A document as users know it: a stable id, a title, an ACL and its current version.

    `source` names it only inside `namespace`, the writer that may register versions of it:
    `user:<uid>` for uploads, `connector` for folders and intranet sites.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("namespace", "source"),
        Index("ix_documents_created_at_id", "created_at", "id"),  # the list's keyset order
        Index("ix_documents_updated_at", "updated_at"),  # ?updated_since=
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(512))
    acl_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    acl_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    acl_public: Mapped[bool] = mapped_column(Boolean, default=False)
    acl_revision: Mapped[int] = mapped_column(Integer, default=0)  # bumped by every ACL change
    acl_applied: Mapped[int] = mapped_column(Integer, default=0)  # revision the stored points carry
    uploaded_by: Mapped[str | None] = mapped_column(String(128))  # the uploader's user uid
    current_version: Mapped[str | None] = mapped_column(String(64))  # the version readers see
    latest_version: Mapped[str | None] = mapped_column(String(64))  # the newest content registered
    status: Mapped[str] = mapped_column(String(16), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )
    acl_tokens: Mapped[list[DocumentAclToken]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True
    )


class DocumentAclToken(Base):
    """One ACL token of a document's current ACL (`user:<uid>`, `group:<name>`, `public`):
    the ACL columns in a form SQL can filter and index, kept in step with them by the registry.
    It carries the document's creation time, so that the list reads a token's documents in
    order from the index alone."""

    __tablename__ = "document_acl_tokens"
    # Each token's documents newest first, in the document list's own keyset order.
    __table_args__ = (Index("ix_document_acl_tokens_token_created_id", "token", "created_at", "document_id"),)

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(160), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the document's (never changes)

    document: Mapped[Document] = relationship(back_populates="acl_tokens")


class DocumentVersion(Base):
    """One content version of a document, identified by its SHA-256."""

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    stored_path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)  # progress of a running version
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The ACL registered with this content; it becomes the document's only when this version
    # becomes current, so a failed new version never changes who may read the current one.
    acl_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    acl_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    acl_public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    document: Mapped[Document] = relationship(back_populates="versions")


class AuditEvent(Base):
    """Who did or saw what, when and through which channel."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(128), index=True)  # the name, as it was then
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the user's uid
    action: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditView(Base):
    """One passage (document version and chunk) shown to a user by an audited event."""

    __tablename__ = "audit_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    chunk_id: Mapped[str | None] = mapped_column(String(36))


class Conversation(Base):
    """A chat conversation; it belongs to one user and nobody else can see it."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the owner's uid
    username: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Message.id"
    )


class Message(Base):
    """One question and the answer given to it, with the citations shown."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    grounded: Mapped[bool] = mapped_column(Boolean)
    mode: Mapped[str] = mapped_column(String(16))
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # How the answer was checked: refused, language, groundedness, sentences, dropped citations.
    checks: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Feedback(Base):
    """A user's thumbs up or down, with an optional comment, on one answer."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("message_id", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36))
    username: Mapped[str] = mapped_column(String(128))
    rating: Mapped[int] = mapped_column(Integer)  # +1 or -1
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebSession(Base):
    """A browser session: only the SHA-256 of its cookie is stored, with its CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    user: Mapped[User] = relationship()


class IdempotentReply(Base):
    """The first answer to a request sent with an `Idempotency-Key`, replayed to its retries.

    Keys are the caller's own (`user_id` is the principal's immutable id); `fingerprint` is the
    SHA-256 of what the request asked for, so a key reused for something else is refused."""

    __tablename__ = "idempotent_replies"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ChatIdentity(Base):
    """A Slack or Teams account bound to a Sillok user, found once by its verified email.

    `tenant` is the Slack team id or the Teams tenant id, `external_id` the Slack user id or the
    Azure AD object id; `user_id` is the Sillok user's immutable id, so a user removed (or a name
    given to someone else) leaves a binding that resolves to nobody."""

    __tablename__ = "chat_identities"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BotDelivery(Base):
    """One event a bot received, claimed once: its retries find the row and do nothing.

    `reply` keeps the generated answer before it is posted, so a failed post is retried with
    the same answer instead of generating again; `message_ref` is the posted message (Slack
    channel and ts, Teams activity id), updated in place rather than posted twice."""

    __tablename__ = "bot_deliveries"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # claimed | answered | posted | failed
    correlation_id: Mapped[str] = mapped_column(String(36))
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class BotThread(Base):
    """Which conversation a chat thread continues, per asker and audience (a private reply in a
    thread is a conversation of its own, so nothing private feeds a later public answer)."""

    __tablename__ = "bot_threads"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    thread_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
