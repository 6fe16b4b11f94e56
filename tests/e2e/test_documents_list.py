"""`GET /api/v1/documents` at scale and `POST /api/v1/documents/{id}/retry`, over the real API
on SQLite and PostgreSQL.

Paging by cursor covers every readable document exactly once, also while documents are added;
no filter, cursor or scope shows a forbidden document; `q`, `status` and `group` narrow the
list; `updated_since` returns what changed (status, progress, ACL, retry); a failed document can
be retried by its uploader and by an admin, a reader who did not upload it is refused and
anyone else gets the 404 of a missing document. A property test checks on both databases that
paging yields exactly the readable set, in order, with ties on the creation time.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from core.acl import Acl, Principal
from core.db.engine import make_engine, migrate, session_factory
from core.db.models import Document, DocumentAclToken
from core.document_list import DocumentFilter
from core.documents import CONNECTOR_NAMESPACE, DocumentRegistry, upload_namespace
from core.settings import LimitSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.worker.bootstrap import build_worker

pytestmark = pytest.mark.e2e

ADMIN = "documents-list-admin-token-0123456789"
GROUPS = ("hr", "sales", "eng")
# dave holds more tokens than a page merges one by one (core.document_list.MERGE_MAX_TOKENS)
USERS = {
    "alice": ["hr"],
    "bob": ["sales", "eng"],
    "carol": [],
    "dave": ["eng", *(f"team{n}" for n in range(8))],
}
TITLES = ("Budget {n}", "BUDGET review {n}", "연차 규정 {n}", "Roadmap {n}", "100% done {n}", "급여_명세 {n}")
DOCUMENTS = 120


@dataclass
class Doc:
    """The test's record of a document: who may read it and what it is called."""

    id: str
    title: str
    acl: Acl  # by user name
    uploader: str | None
    status: str = "queued"


@dataclass
class World:
    client: TestClient
    container: ApiServices
    keys: dict[str, str]
    docs: dict[str, Doc] = field(default_factory=dict)
    folder: Path = Path()

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN if user == 'admin' else self.keys[user]}"}

    def readable(self, user: str, doc: Doc) -> bool:
        if user == "admin":  # the bootstrap admin holds no group and no user token
            return doc.acl.public
        return doc.acl.public or user in doc.acl.users or bool(doc.acl.groups & set(USERS[user]))

    def readable_ids(self, user: str) -> set[str]:
        return {d.id for d in self.docs.values() if self.readable(user, d)}

    def add(self, n: int, acl: Acl, uploader: str | None, title: str | None = None) -> Doc:
        path = self.folder / f"doc-{n}-{uuid.uuid4().hex[:6]}.txt"
        path.write_text(f"Document number {n}: the parking garage opens at {n % 12 + 1} o'clock.")
        users = self.container.users
        ids = Acl.of(users.ids_for(acl.users).values(), acl.groups, acl.public)
        uploader_id = users.principal(uploader).user_id if uploader else None
        namespace = upload_namespace(uploader_id) if uploader_id else CONNECTOR_NAMESPACE
        title = title or TITLES[n % len(TITLES)].format(n=n)
        reg = self.container.intake.submit(
            path, namespace=namespace, source=f"test:{n}", acl=ids, title=title, uploaded_by=uploader_id
        )
        doc = Doc(reg.document_id, title, acl, uploader)
        self.docs[doc.id] = doc
        return doc

    def pages(self, user: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
        """Every page of the list, following the cursors."""
        pages, cursor = [], None
        while True:
            query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
            reply = self.client.get("/api/v1/documents", headers=self.auth(user), params=query)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            pages.append(body["documents"])
            cursor = body["next_cursor"]
            if cursor is None:
                return pages
            assert len(body["documents"]) == limit
            assert len(pages) < 1000


def settings_for(tmp: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        bootstrap_admin_token=ADMIN,
        embedding={"backend": "sentence-transformers"},
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        log_level="WARNING",
    )


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    container = ApiServices(settings_for(tmp_path, database_url))
    for user, groups in USERS.items():
        container.users.add_user(user, groups=groups)
    container.users.add_user("root", admin=True)
    keys = {user: container.users.issue_key(user) for user in (*USERS, "root")}
    with TestClient(create_app(container)) as client:
        state = World(client, container, keys, folder=tmp_path / "files")
        state.folder.mkdir()
        rng = random.Random(20261202)
        for n in range(DOCUMENTS):
            acl = Acl.of(
                users=rng.sample(sorted(USERS), rng.randint(0, 2)),
                groups=rng.sample(GROUPS, rng.randint(0, 2)),
                public=rng.random() < 0.08,
            )
            doc = state.add(n, acl, rng.choice([*USERS, None]))
            if n % 5 == 0:
                version = container.documents.latest(doc.id)
                assert version is not None
                container.documents.fail(doc.id, version.sha256, "malformed_document", "damaged")
                doc.status = "failed"
        yield state
    container.close()


def listed_ids(pages: list[list[dict[str, Any]]]) -> list[str]:
    return [doc["id"] for page in pages for doc in page]


def test_pages_cover_every_readable_document_exactly_once(world: World) -> None:
    for user in (*USERS, "admin"):
        pages = world.pages(user, limit=7)
        ids = listed_ids(pages)
        assert len(ids) == len(set(ids)), f"{user} was shown a document twice"
        assert set(ids) == world.readable_ids(user), user
        created = [doc["created_at"] for page in pages for doc in page]
        assert created == sorted(created, reverse=True), "newest first"
    everything = world.client.get("/api/v1/documents", headers=world.auth("alice")).json()
    assert len(everything["documents"]) == min(50, len(world.readable_ids("alice")))  # the default limit


def test_documents_added_while_paging_neither_repeat_nor_shift_the_pages(world: World) -> None:
    before = world.readable_ids("alice")
    first = world.client.get("/api/v1/documents", headers=world.auth("alice"), params={"limit": 10}).json()
    for n in range(5):
        world.add(1000 + n, Acl.of(users=["alice"]), "alice")
    seen = [d["id"] for d in first["documents"]]
    cursor = first["next_cursor"]
    while cursor:
        reply = world.client.get(
            "/api/v1/documents", headers=world.auth("alice"), params={"limit": 10, "cursor": cursor}
        ).json()
        seen += [d["id"] for d in reply["documents"]]
        cursor = reply["next_cursor"]
    assert len(seen) == len(set(seen)) and set(seen) == before
    newest = world.client.get("/api/v1/documents", headers=world.auth("alice"), params={"limit": 5}).json()
    assert {d["id"] for d in newest["documents"]} == set(world.readable_ids("alice")) - before


def test_filters_narrow_the_readable_set(world: World) -> None:
    cases: list[tuple[dict[str, str], Any]] = [
        ({"q": "budget"}, lambda d: "budget" in d.title.lower()),
        ({"q": "BuDgEt ReViEw"}, lambda d: "budget review" in d.title.lower()),
        ({"q": "연차"}, lambda d: "연차" in d.title),
        ({"q": "100%"}, lambda d: "100%" in d.title),  # % is a character here, not a wildcard
        ({"q": "급여_"}, lambda d: "급여_" in d.title),
        ({"q": "%"}, lambda d: "%" in d.title),
        ({"status": "failed"}, lambda d: d.status == "failed"),
        ({"status": "queued"}, lambda d: d.status == "queued"),
        ({"group": "hr"}, lambda d: "hr" in d.acl.groups),
        ({"group": "sales", "status": "failed"}, lambda d: "sales" in d.acl.groups and d.status == "failed"),
        ({"q": "budget", "group": "eng"}, lambda d: "budget" in d.title.lower() and "eng" in d.acl.groups),
        ({"group": "nobody-has-this"}, lambda d: False),
    ]
    for user in ("alice", "bob", "carol", "dave"):
        for params, wanted in cases:
            ids = listed_ids(world.pages(user, limit=9, **params))
            expected = {d.id for d in world.docs.values() if world.readable(user, d) and wanted(d)}
            assert len(ids) == len(set(ids)) and set(ids) == expected, (user, params)
    assert any(listed_ids(world.pages("alice", limit=50, q="연차")))


def test_forbidden_documents_never_appear_and_bad_input_is_a_json_error(world: World) -> None:
    carol = world.auth("carol")
    hidden = {d.id for d in world.docs.values()} - world.readable_ids("carol")
    assert hidden
    for params in ({}, {"q": "budget"}, {"group": "hr"}, {"status": "failed"}, {"scope": "readable"}):
        for page in world.pages("carol", limit=3, **params):
            assert not {d["id"] for d in page} & hidden, params
    # A cursor made up from a document carol may not read shows only what she may read.
    forbidden = next(d for d in world.docs.values() if d.id in hidden)
    row = world.container.documents.get(forbidden.id)
    from core.document_list import encode_cursor

    reply = world.client.get("/api/v1/documents", headers=carol, params={"cursor": encode_cursor(row)})
    assert reply.status_code == 200 and not {d["id"] for d in reply.json()["documents"]} & hidden
    for params in (
        {"cursor": "not-a-cursor"},
        {"cursor": "WyIyMDI2IiwgMV0"},  # valid base64 and JSON, not a position
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"status": "superseded"},
        {"group": "bad group"},
        {"updated_since": "yesterday"},
        {"scope": "everything"},
        {"q": "x" * 301},
    ):
        reply = world.client.get("/api/v1/documents", headers=carol, params=params)
        assert reply.status_code == 400, (params, reply.text)
        assert reply.json()["error"]["code"] == "invalid_input", params
    refused = world.client.get("/api/v1/documents", headers=carol, params={"scope": "all"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    unauthenticated = world.client.get("/api/v1/documents")
    assert unauthenticated.status_code == 401


def test_an_admin_may_list_every_document_with_scope_all(world: World) -> None:
    everything = set(world.docs)
    assert set(listed_ids(world.pages("root", limit=40, scope="all"))) == everything
    failed = {d.id for d in world.docs.values() if d.status == "failed"}
    assert set(listed_ids(world.pages("admin", limit=40, scope="all", status="failed"))) == failed
    # Without it an admin's list is what their ACL tokens admit, like everyone's.
    assert set(listed_ids(world.pages("root", limit=40))) == {
        d.id for d in world.docs.values() if d.acl.public
    }


def test_updated_since_returns_what_changed(world: World) -> None:
    registry = world.container.documents
    bob = world.auth("bob")
    queued = sorted(d.id for d in world.docs.values() if world.readable("bob", d) and d.status == "queued")
    started, progressing, shared = (world.docs[queued[i]] for i in (1, 2, 3))
    time.sleep(0.05)
    since = datetime.now(UTC)
    time.sleep(0.05)
    assert registry.start(started.id, registry.latest(started.id).sha256)  # type: ignore[union-attr]
    assert registry.start(progressing.id, registry.latest(progressing.id).sha256)  # type: ignore[union-attr]
    registry.progress(progressing.id, registry.latest(progressing.id).sha256, 3, 10)  # type: ignore[union-attr]
    root = world.auth("root")
    acl = world.client.put(f"/api/v1/documents/{shared.id}/acl", headers=root, json={"groups": ["sales"]})
    assert acl.status_code == 200, acl.text
    shared.acl = Acl.of(groups=["sales"])
    # A moment before the changes (the tool a watcher uses, with the time of its last reply)
    params = {"updated_since": since.isoformat()}
    reply = world.client.get("/api/v1/documents", headers=bob, params=params).json()
    changed = {d["id"]: d for d in reply["documents"]}
    assert set(changed) == {started.id, progressing.id, shared.id}
    assert changed[started.id]["status"] == "processing"
    assert changed[progressing.id]["progress"] == {"chunks_done": 3, "chunks_total": 10}
    # A document that changes so that bob may no longer read it is not shown to him.
    time.sleep(0.05)
    since = datetime.now(UTC)
    world.client.put(f"/api/v1/documents/{shared.id}/acl", headers=root, json={"groups": ["hr"]})
    shared.acl = Acl.of(groups=["hr"])
    reply = world.client.get("/api/v1/documents", headers=bob, params={"updated_since": since.isoformat()})
    assert reply.json()["documents"] == []
    # `next_updated_since` of a reply lies before the reply, so the next change is not missed.
    watermark = reply.json()["next_updated_since"]
    assert datetime.fromisoformat(watermark) <= datetime.now(UTC) - timedelta(seconds=1)
    registry.progress(progressing.id, registry.latest(progressing.id).sha256, 7, 10)  # type: ignore[union-attr]
    again = set(listed_ids(world.pages("bob", limit=20, updated_since=watermark)))
    assert progressing.id in again and again <= world.readable_ids("bob")


def test_a_failed_document_is_retried_by_its_uploader_or_an_admin(world: World) -> None:
    registry = world.container.documents
    doc = world.add(2000, Acl.of(users=["alice"], groups=["sales"]), "alice", title="Parking rules")
    version = registry.latest(doc.id)
    assert version is not None
    for _ in range(3):  # a worker that died three times: the fourth start fails it
        assert registry.start(doc.id, version.sha256, stale_after=timedelta(0))
    assert not registry.start(doc.id, version.sha256, stale_after=timedelta(0))
    assert registry.get(doc.id).status == "failed" and registry.get(doc.id).error_code == "interrupted"
    url = f"/api/v1/documents/{doc.id}/retry"

    # carol may not read it: exactly the answer for a document that does not exist
    hidden = world.client.post(url, headers=world.auth("carol"))
    missing = world.client.post(f"/api/v1/documents/{uuid.uuid4()}/retry", headers=world.auth("carol"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    # bob may read it (sales) but did not upload it
    refused = world.client.post(url, headers=world.auth("bob"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert registry.get(doc.id).status == "failed"

    since = datetime.now(UTC) - timedelta(milliseconds=1)
    reply = world.client.post(url, headers=world.auth("alice"))
    assert reply.status_code == 202, reply.text
    assert reply.json() == {"id": doc.id, "status": "queued", "version": version.sha256}
    retried = registry.latest(doc.id)
    assert retried is not None and retried.status == "queued" and retried.attempts == 0
    assert retried.enqueued_at is not None  # sent to the queue
    watched = world.client.get(
        "/api/v1/documents", headers=world.auth("alice"), params={"updated_since": since.isoformat()}
    ).json()["documents"]
    assert [(d["id"], d["status"], d["error"]) for d in watched] == [(doc.id, "queued", None)]
    again = world.client.post(url, headers=world.auth("alice"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    # The worker takes it again: this time it is indexed.
    hosted = build_worker(shared=world.container)
    hosted.pipeline.process(doc.id, version.sha256)
    assert registry.get(doc.id).status == "indexed"
    assert world.client.post(url, headers=world.auth("root")).status_code == 409

    # An admin may retry any failed document, readable or not; an audit event records it.
    other = next(d for d in world.docs.values() if d.status == "failed" and not d.acl.public)
    reply = world.client.post(f"/api/v1/documents/{other.id}/retry", headers=world.auth("root"))
    assert reply.status_code == 202, reply.text
    assert registry.get(other.id).status == "queued"
    events = world.client.get(
        "/api/v1/audit", headers=world.auth("root"), params={"action": "document.retry"}
    )
    assert events.status_code == 200 and other.id in events.text and doc.id in events.text


def test_the_migration_gives_existing_documents_their_tokens(database_url: str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from core.db.engine import MIGRATIONS

    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
    now = "2026-11-30 10:00:00"
    with engine.begin() as db:
        for doc_id, users, groups, public in (
            ("d1", '["u-1"]', '["hr"]', False),
            ("d2", "[]", "[]", True),
            ("d3", "[]", "[]", False),
        ):
            db.execute(
                text(
                    "INSERT INTO documents (id, namespace, source, title, filename, acl_users, acl_groups,"
                    " acl_public, acl_revision, acl_applied, status, chunk_count, created_at, updated_at)"
                    " VALUES (:id, 'connector', :id, :id, 'f', :u, :g, :p, 0, 0, 'indexed', 0, :t, :t)"
                ),
                {"id": doc_id, "u": users, "g": groups, "p": public, "t": now},
            )
    migrate(engine)
    registry = DocumentRegistry(session_factory(engine))
    listed = [d.id for d in registry.page(Principal("x", frozenset({"hr"}), user_id="u-9")).documents]
    assert sorted(listed) == ["d1", "d2"]
    assert [d.id for d in registry.page(Principal("u", user_id="u-1")).documents] in (
        ["d2", "d1"],
        ["d1", "d2"],
    )
    assert registry.page(Principal("nobody", user_id="u-2"), DocumentFilter(text="d3")).documents == []
    engine.dispose()


# ---- the property: paging yields exactly the readable set ----------------------------------

PROPERTY_GROUPS = tuple(f"g{n}" for n in range(8))  # up to ten tokens: both ways of reading a page
TIMES = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=s) for s in range(4)]
doc_strategy = st.tuples(
    st.frozensets(st.sampled_from(("u1", "u2")), max_size=2),
    st.frozensets(st.sampled_from(PROPERTY_GROUPS), max_size=2),
    st.sampled_from((False, False, False, True)),  # public
    st.sampled_from(TIMES),  # few distinct times, so ties must be broken by id
)


def test_paging_yields_exactly_the_readable_set(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    registry = DocumentRegistry(sessions)
    every: list[tuple[datetime, str, frozenset[str]]] = []  # (created, id, tokens) of all documents so far
    runs = itertools.count()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        docs=st.lists(doc_strategy, max_size=25),
        me=st.sampled_from(("u1", "u2", "u3")),
        groups=st.frozensets(st.sampled_from(PROPERTY_GROUPS)) | st.just(frozenset(PROPERTY_GROUPS)),
        group=st.none() | st.sampled_from(PROPERTY_GROUPS),
        limit=st.integers(1, 8),
    )
    def check(
        docs: list[tuple[frozenset[str], frozenset[str], bool, datetime]],
        me: str,
        groups: frozenset[str],
        group: str | None,
        limit: int,
    ) -> None:
        run = next(runs)  # each example's names are its own; earlier public documents stay readable

        def name(entry: str) -> str:
            return f"r{run}-{entry}"

        for n, (users, member_of, public, created) in enumerate(docs):
            acl = Acl.of({name(u) for u in users}, {name(g) for g in member_of}, public)
            reg = registry.register(
                namespace=CONNECTOR_NAMESPACE,
                source=f"run{run}/{n}",
                filename="f.txt",
                title=f"t{n}",
                acl=acl,
                sha256=f"{run:04d}{n:04d}",
                size_bytes=1,
                stored_path="/nowhere",
                uploaded_by=None,
            )
            with sessions.begin() as session:  # the registry's tables, as if registered at `created`
                for table in (Document, DocumentAclToken):
                    key = Document.id if table is Document else DocumentAclToken.document_id
                    session.execute(update(table).where(key == reg.document_id).values(created_at=created))
            every.append((created, reg.document_id, acl.tokens()))
        principal = Principal(me, frozenset(name(g) for g in groups), user_id=name(me))
        held = principal.tokens()
        wanted = {f"group:{name(group)}"} if group else None
        expected = [
            doc_id
            for _, doc_id, tokens in sorted(every, reverse=True)
            if tokens & held and (wanted is None or tokens & wanted)
        ]
        chosen = DocumentFilter(group=name(group) if group else None)
        seen: list[str] = []
        cursor = None
        while True:
            page = registry.page(principal, chosen, limit, cursor)
            assert len(page.documents) <= limit
            seen += [d.id for d in page.documents]
            cursor = page.next_cursor
            if cursor is None:
                break
            assert len(page.documents) == limit
        assert seen == expected

    check()
    engine.dispose()
