"""The SQL source of truth on SQLite and PostgreSQL: migrations, version state machine, users and keys."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.acl import Acl, Principal
from core.db.engine import make_engine, migrate, session_factory
from core.db.models import IdempotentReply
from core.documents import CONNECTOR_NAMESPACE, DocumentRegistry
from core.errors import Conflict, NotFound
from core.idempotency import IdempotencyKeys
from core.types import DocumentStatus
from core.users import UserDirectory

pytestmark = pytest.mark.integration
PUBLIC_ACL = Acl.of(public=True)


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    yield session_factory(engine)
    engine.dispose()


def register(registry: DocumentRegistry, sha: str, acl: Acl = PUBLIC_ACL):  # type: ignore[no-untyped-def]
    return registry.register(
        namespace=CONNECTOR_NAMESPACE,
        source="file:///a.txt",
        filename="a.txt",
        title="a",
        acl=acl,
        sha256=sha,
        size_bytes=1,
        stored_path="/tmp/a",
        uploaded_by=None,
    )


def test_version_state_machine_is_compare_and_set(sessions) -> None:  # type: ignore[no-untyped-def]
    registry = DocumentRegistry(sessions)
    reg = register(registry, "a" * 64)
    assert reg.needs_processing
    assert registry.start(reg.document_id, reg.version)
    assert not registry.start(reg.document_id, reg.version)  # a duplicate delivery does nothing
    registry.finish(reg.document_id, reg.version, 3)
    doc = registry.get(reg.document_id)
    assert (doc.status, doc.chunk_count, doc.current_version) == ("indexed", 3, "a" * 64)
    again = register(registry, "a" * 64)
    assert not again.needs_processing and again.document_id == reg.document_id


def test_failure_keeps_its_reason_and_can_be_retried_with_new_content(sessions) -> None:  # type: ignore[no-untyped-def]
    registry = DocumentRegistry(sessions)
    reg = register(registry, "b" * 64)
    registry.start(reg.document_id, reg.version)
    registry.fail(reg.document_id, reg.version, "encrypted", "the PDF is password-protected")
    doc = registry.get(reg.document_id)
    assert doc.status == DocumentStatus.FAILED.value and doc.error == "the PDF is password-protected"
    assert not register(registry, "b" * 64).needs_processing  # the same bytes cannot loop
    assert register(registry, "c" * 64).needs_processing  # new content is tried


def test_a_document_deleted_while_its_version_fails_is_reported_missing(sessions) -> None:  # type: ignore[no-untyped-def]
    registry = DocumentRegistry(sessions)
    reg = register(registry, "d" * 64)
    registry.start(reg.document_id, reg.version)

    def delete_first(session: Session, *_: object) -> None:  # another request deletes it meanwhile
        registry.delete(reg.document_id)

    event.listen(sessions, "before_flush", delete_first, once=True)
    with pytest.raises(NotFound):
        registry.fail(reg.document_id, reg.version, "encrypted", "the PDF is password-protected")
    with pytest.raises(NotFound):
        registry.get(reg.document_id)


def test_forbidden_is_indistinguishable_from_missing(sessions) -> None:  # type: ignore[no-untyped-def]
    registry = DocumentRegistry(sessions)
    reg = register(registry, "c" * 64, Acl.of(groups=["hr"]))
    assert registry.readable(Principal("x", frozenset({"hr"})), reg.document_id).id == reg.document_id
    with pytest.raises(NotFound) as forbidden:
        registry.readable(Principal("y"), reg.document_id)
    with pytest.raises(NotFound) as missing:
        registry.readable(Principal("y"), "nope")
    assert forbidden.value.message == missing.value.message
    assert registry.list_readable(Principal("y")) == []


def test_users_groups_and_keys(sessions) -> None:  # type: ignore[no-untyped-def]
    users = UserDirectory(sessions)
    alice = users.add_user("alice", "a@example.com", ["hr", "eng"])
    assert alice.user_id and alice == Principal("alice", frozenset({"hr", "eng"}), user_id=alice.user_id)
    assert users.add_user("alice", groups=["hr"]).groups == {"hr"}  # idempotent, groups replaced
    key = users.issue_key("alice")
    assert users.authenticate_key(key) == Principal("alice", frozenset({"hr"}), user_id=alice.user_id)
    assert users.authenticate_key(key + "x") is None
    users.remove_user("alice")
    assert users.authenticate_key(key) is None


def test_bootstrap_admin_token(sessions) -> None:  # type: ignore[no-untyped-def]
    token = "t" * 32
    users = UserDirectory(sessions, token)
    admin = users.authenticate_key(token)
    assert admin == Principal("admin", frozenset(), True, user_id=admin.user_id if admin else "")
    assert admin is not None and admin.user_id
    assert UserDirectory(sessions).authenticate_key(token) is None


def test_the_built_in_admin_is_not_removed_while_its_token_is_set(sessions) -> None:  # type: ignore[no-untyped-def]
    token = "t" * 32
    users = UserDirectory(sessions, token)
    before = users.authenticate_key(token)
    with pytest.raises(Conflict):
        users.remove_user("admin")
    after = users.authenticate_key(token)
    assert before is not None and after is not None and after.user_id == before.user_id  # same account


def test_expired_idempotency_keys_are_removed_whoever_sent_them(sessions) -> None:  # type: ignore[no-untyped-def]
    keys = IdempotencyKeys(sessions, lifetime=timedelta(milliseconds=50))
    keys.remember("uid-a", "k1", "f1", 202, {"id": "d1"})
    assert keys.replay("uid-a", "k1", "f1") == (202, {"id": "d1"})
    with pytest.raises(Conflict):
        keys.replay("uid-a", "k1", "another request")
    assert keys.replay("uid-b", "k1", "f1") is None  # keys are each caller's own
    time.sleep(0.1)
    keys.remember("uid-b", "k2", "f2", 202, {"id": "d2"})  # a fresh key clears every expired one
    with sessions() as session:
        mine = select(IdempotentReply).where(IdempotentReply.user_id.in_(["uid-a", "uid-b"]))
        assert [(r.user_id, r.key) for r in session.scalars(mine)] == [("uid-b", "k2")]
