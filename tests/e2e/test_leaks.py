"""A randomized permission-leak test over every route that returns content.

30 users in 10 groups, 500 documents each carrying a unique canary, title and id, with random
ACLs. Every user queries every content route; then 100 random ACL changes, membership changes,
deletions, user removals, re-creations of a removed user's name and document-identity
collisions (a user uploading under another document's source or upload name, or asking to
publish to everyone), each followed at once by the same queries from the users it affects.
Any canary, title, document id or chunk id of a document the user may not read at that moment,
found anywhere in any response, is a leak. The expected number is exactly 0.
"""

from __future__ import annotations

import json
import random
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE
from core.settings import LimitSettings, Settings
from core.types import Chunk, point_id
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.worker.bootstrap import build_worker

pytestmark = pytest.mark.e2e

ADMIN = "leak-test-admin-token-0123456789abcdef"
USERS, GROUPS, DOCUMENTS, CHANGES = 30, 10, 500, 100
TOPICS = ("budget", "merger", "salary", "patent", "audit", "roadmap", "lawsuit", "layoff", "bonus", "vendor")
MARKERS = re.compile(
    r"CANARY-\d{3}-[0-9a-f]{8}|TITLE-\d{3}-[0-9a-f]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


@dataclass
class Doc:
    """The test's own record of a document: what identifies it and who may read it."""

    n: int
    canary: str
    title: str
    topic: str
    project: str
    acl: Acl
    id: str = ""
    version: str = ""
    deleted: bool = False

    def text(self) -> str:
        return (
            f"Record {self.canary}. The {self.topic} plan for project {self.project} "
            f"is confidential and approved by the {self.topic} committee."
        )


@dataclass
class World:
    """Users, groups and documents as they should be; the oracle of who may read what."""

    client: TestClient
    container: ApiServices
    keys: dict[str, str]
    groups: dict[str, set[str]]
    docs: list[Doc]
    removed: set[str] = field(default_factory=set)
    markers: dict[str, Doc] = field(default_factory=dict)
    requests: int = 0
    leaks: list[str] = field(default_factory=list)

    def readable(self, user: str, doc: Doc) -> bool:
        if doc.deleted or user in self.removed:
            return False
        return doc.acl.public or user in doc.acl.users or bool(doc.acl.groups & self.groups[user])

    def index_markers(self, doc: Doc) -> None:
        for marker in (doc.canary, doc.title, doc.id, point_id(doc.id, doc.version, 0)):
            self.markers[marker] = doc

    def check(self, user: str, route: str, status: int, body: str) -> None:
        self.requests += 1
        assert status < 500 and status != 429, (route, status, body[:300])
        for marker in set(MARKERS.findall(body)):
            doc = self.markers.get(marker)
            if doc is not None and not self.readable(user, doc):
                self.leaks.append(f"{user} {route}: {marker} of document {doc.n}")


def load(container: ApiServices, docs: list[Doc], folder: Path) -> None:
    """Register every document and index it in bulk (one chunk each): what the workers would
    do one by one, done in embedding batches to keep this test's set-up short."""
    folder.mkdir()
    chunks = []
    for doc in docs:
        path = folder / f"{doc.title}.txt"
        path.write_text(doc.text())
        ids = container.users.ids_for(doc.acl.users).values()
        acl = Acl.of(ids, doc.acl.groups, doc.acl.public)
        reg = container.intake.submit(
            path, namespace=CONNECTOR_NAMESPACE, source=f"test:{doc.n}", acl=acl, title=doc.title
        )
        doc.id, doc.version = reg.document_id, reg.version
        assert container.documents.start(doc.id, doc.version)
        chunks.append(Chunk(doc.id, doc.version, 0, doc.text(), doc.title, acl.tokens()))
    for start in range(0, len(chunks), 64):
        batch = chunks[start : start + 64]
        container.index.upsert(batch, container.embedder.embed_passages([c.text for c in batch]))
    for doc in docs:
        assert container.documents.finish(doc.id, doc.version, 1)


def settings_for(tmp: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        bootstrap_admin_token=ADMIN,
        embedding={"backend": "sentence-transformers"},
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),  # this test is one fast client
        log_level="WARNING",
    )


@pytest.fixture
def world(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    rng = random.Random(20261128)
    container = ApiServices(settings_for(tmp_path, postgres_url))
    group_names = [f"g{i}" for i in range(GROUPS)]
    groups = {f"u{i:02d}": set(rng.sample(group_names, rng.randint(0, 3))) for i in range(USERS)}
    for user, member_of in groups.items():
        container.users.add_user(user, groups=member_of)
    keys = {user: container.users.issue_key(user) for user in groups}
    docs = []
    for n in range(DOCUMENTS):
        roll = rng.random()
        acl = Acl.of(
            users=rng.sample(sorted(groups), rng.randint(0, 2)) if roll > 0.1 else [],
            groups=rng.sample(group_names, rng.randint(0, 2)) if roll > 0.1 else [],
            public=roll > 0.9,
        )
        tag = secrets.token_hex(4)
        docs.append(
            Doc(n, f"CANARY-{n:03d}-{tag}", f"TITLE-{n:03d}-{tag}", TOPICS[n % 10], f"P{n % 37}", acl)
        )
    load(container, docs, tmp_path / "docs")
    hosted = build_worker(shared=container)
    worker = hosted.embedded_worker()
    worker.start()
    with TestClient(create_app(container)) as client:
        state = World(client, container, keys, groups, docs)
        for doc in docs:
            state.index_markers(doc)
        yield state
    worker.stop()
    hosted.close()
    container.close()


def query_everything(world: World, user: str, rng: random.Random) -> None:
    """Every content route, as `user`, aimed at a random document (readable or not)."""
    target = rng.choice(world.docs)
    question = f"{target.topic} plan project {target.project}"
    auth = {"Authorization": f"Bearer {world.keys[user]}"}
    client = world.client

    def get(route: str, path: str) -> None:
        reply = client.get(path, headers=auth)
        world.check(user, route, reply.status_code, reply.text)

    def post(route: str, path: str, body: dict[str, object]) -> str:
        reply = client.post(path, headers=auth, json=body)
        world.check(user, route, reply.status_code, reply.text)
        return reply.text

    post("search", "/api/v1/search", {"query": question, "top_k": 10})
    chat = post("chat", "/api/v1/chat", {"message": question})
    post("chat-stream", "/api/v1/chat", {"message": question, "stream": True})
    openai = {"model": "sillok", "messages": [{"role": "user", "content": question}]}
    post("openai", "/v1/chat/completions", openai)
    post("openai-stream", "/v1/chat/completions", {**openai, "stream": True})
    get("documents", "/api/v1/documents")
    for doc in (target, rng.choice(world.docs)):
        get("document", f"/api/v1/documents/{doc.id}")
        get("content", f"/api/v1/documents/{doc.id}/content")
        get("why", f"/api/v1/documents/{doc.id}/why?chunk_id={point_id(doc.id, doc.version, 0)}")
    get("conversations", "/api/v1/conversations")
    conversation = json.loads(chat).get("conversation_id") if chat.startswith("{") else None
    for listed in client.get("/api/v1/conversations", headers=auth).json().get("conversations", [])[:3]:
        get("history", f"/api/v1/conversations/{listed['id']}")
    if conversation:
        get("history", f"/api/v1/conversations/{conversation}")


def change_something(world: World, rng: random.Random) -> list[str]:
    """One random ACL change, membership change, deletion or user removal; the users it affects."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    live_users = sorted(set(world.groups) - world.removed)
    live_docs = [d for d in world.docs if not d.deleted]
    kind = rng.choices(
        ["acl", "groups", "delete", "remove", "recreate", "collide"], weights=[35, 25, 10, 5, 5, 20]
    )[0]
    if kind == "recreate" and world.removed:
        return recreate_user(world, rng.choice(sorted(world.removed)))
    if kind == "collide":
        originals = [d for d in live_docs if d.n < DOCUMENTS]
        return collide(world, rng, rng.choice(live_users), rng.choice(originals))
    if kind == "acl":
        doc = rng.choice(live_docs)
        before = doc.acl
        doc.acl = Acl.of(
            rng.sample(live_users, rng.randint(0, 2)), [f"g{rng.randrange(GROUPS)}"], rng.random() < 0.1
        )
        reply = world.client.put(f"/api/v1/documents/{doc.id}/acl", headers=admin, json=doc.acl.as_dict())
        assert reply.status_code == 200, reply.text
        return sorted((before.users | doc.acl.users) & set(live_users)) or [rng.choice(live_users)]
    if kind == "groups":
        user = rng.choice(live_users)
        world.groups[user] = {f"g{i}" for i in rng.sample(range(GROUPS), rng.randint(0, 3))}
        reply = world.client.put(
            f"/api/v1/users/{user}/groups", headers=admin, json={"groups": sorted(world.groups[user])}
        )
        assert reply.status_code == 200, reply.text
        return [user]
    if kind == "delete":
        doc = rng.choice(live_docs)
        doc.deleted = True
        assert world.client.delete(f"/api/v1/documents/{doc.id}", headers=admin).status_code == 204
        readers = [
            u for u in live_users if doc.acl.public or u in doc.acl.users or doc.acl.groups & world.groups[u]
        ]
        return readers[:3] or [rng.choice(live_users)]
    user = rng.choice(live_users)
    world.removed.add(user)
    assert world.client.delete(f"/api/v1/users/{user}", headers=admin).status_code == 204
    assert (
        world.client.post(
            "/api/v1/search", headers={"Authorization": f"Bearer {world.keys[user]}"}, json={"query": "x"}
        ).status_code
        == 401
    )
    return [user, rng.choice([u for u in live_users if u != user])]


def recreate_user(world: World, user: str) -> list[str]:
    """An admin creates a removed user's name again: the new account inherits nothing."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    reply = world.client.post("/api/v1/users", headers=admin, json={"username": user, "groups": []})
    assert reply.status_code == 201, reply.text
    world.removed.discard(user)
    world.groups[user] = set()
    for doc in world.docs:  # the old account's entries name nobody now
        doc.acl = Acl.of(doc.acl.users - {user}, doc.acl.groups, doc.acl.public)
    reply = world.client.post(f"/api/v1/users/{user}/api-keys", headers=admin)
    world.keys[user] = reply.json()["key"]
    history = world.client.get(
        "/api/v1/conversations", headers={"Authorization": f"Bearer {world.keys[user]}"}
    )
    assert history.json()["conversations"] == []
    return [user]


def collide(world: World, rng: random.Random, attacker: str, victim: Doc) -> list[str]:
    """`attacker` uploads under `victim`'s source (or upload name) and title, possibly asking to
    publish to everyone. The upload either is refused or becomes the attacker's own document;
    the victim's document keeps its content, version and ACL."""
    auth = {"Authorization": f"Bearer {world.keys[attacker]}"}
    n = len(world.docs)
    tag = secrets.token_hex(4)
    mine = Doc(n, f"CANARY-{n:03d}-{tag}", f"TITLE-{n:03d}-{tag}", victim.topic, victim.project, Acl())
    source = rng.choice([f"test:{victim.n}", f"upload:{victim.title}.txt", f"file:///{victim.title}.txt"])
    publish = rng.random() < 0.3
    form = {"source_url": source, "title": mine.title}
    if publish:
        form["acl"] = json.dumps({"public": True})
    # The victim's title goes into the source only: in the attacker's own document list a file
    # name they chose would look like a leaked title to this test's marker check.
    files = {"file": ("notes.txt", mine.text().encode(), "text/plain")}
    reply = world.client.post("/api/v1/documents", headers=auth, data=form, files=files)
    world.check(attacker, "upload", reply.status_code, reply.text)
    if publish:
        assert reply.status_code == 403, reply.text
    else:
        assert reply.status_code == 202, reply.text
        mine.id, mine.version = reply.json()["id"], reply.json()["version"]
        mine.acl = Acl.of(users=[attacker])
        assert mine.id != victim.id
        world.docs.append(mine)
        world.index_markers(mine)
    if not victim.deleted:  # an original document: indexed before the changes began
        stored = world.container.documents.get(victim.id)
        assert (stored.current_version, stored.title) == (victim.version, victim.title)
        names = world.container.users.names_for(stored.acl_users)
        assert sorted(names.values()) == sorted(victim.acl.users - world.removed)
        assert (set(stored.acl_groups), stored.acl_public) == (victim.acl.groups, victim.acl.public)
    readers = [u for u in world.groups if u not in world.removed and world.readable(u, victim)]
    return [attacker, *readers[:2]]


def test_no_route_ever_shows_a_passage_title_or_id_the_user_may_not_read(world: World) -> None:
    rng = random.Random(7)
    for user in sorted(world.groups):
        query_everything(world, user, rng)
    initial = world.requests
    for _ in range(CHANGES):
        for user in change_something(world, rng):
            query_everything(world, user, rng)
    print(
        f"users={USERS} groups={GROUPS} documents={DOCUMENTS} changes={CHANGES} "
        f"requests={world.requests} (initial {initial}) deleted={sum(d.deleted for d in world.docs)} "
        f"removed_users={len(world.removed)} leaks={len(world.leaks)}"
    )
    assert world.leaks == [], "\n".join(world.leaks[:40])
