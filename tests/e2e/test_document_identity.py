"""Who can name, replace, re-create or publish a document.

For every way a document can be named (an upload's own name, an upload's `source_url` of each
scheme, the folder connector, the intranet crawler) another user can neither read it, replace
its content, change its ACL nor delete it: writing under the same name makes the writer's own,
separate document. A new version that fails leaves the current one's ACL alone. Publishing to
everyone is an admin right. A user created again under a removed user's name starts empty, and
a password change or a removal ends every session.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.acl import Acl
from core.settings import LimitSettings, Settings
from ingest.connectors.runs import QueueSink
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.worker.bootstrap import build_worker

pytestmark = pytest.mark.e2e
ADMIN = "identity-test-admin-token-0123456789"
DOCUMENTS = "/api/v1/documents"


@dataclass
class Api:
    """A client per user, and the container behind the server."""

    client: TestClient
    container: ApiServices
    keys: dict[str, str]
    suffix: str

    def name(self, user: str) -> str:
        """The real user name of one of this test's users."""
        return user + self.suffix

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}

    def upload(self, user: str, name: str, text: str, **form: str) -> Any:
        files = {"file": (name, text.encode(), "text/markdown")}
        return self.client.post(DOCUMENTS, headers=self.auth(user), data=form, files=files)

    def settle(self, user: str, timeout_s: float = 120) -> dict[str, dict[str, Any]]:
        """Poll the user's document list (one request per round, like a real client) until
        nothing is queued or processing; the documents by id."""
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self.client.get(DOCUMENTS, headers=self.auth(user))
            assert reply.status_code == 200, reply.text
            docs = {d["id"]: d for d in reply.json()["documents"]}
            if all(d["status"] in ("indexed", "failed") for d in docs.values()):
                return docs
            assert time.monotonic() < deadline, docs
            time.sleep(0.3)

    def found(self, user: str, query: str) -> str:
        reply = self.client.post("/api/v1/search", headers=self.auth(user), json={"query": query})
        assert reply.status_code == 200, reply.text
        return reply.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ApiServices]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("identity") / "data",
        bootstrap_admin_token=ADMIN,
        embedding={"backend": "sentence-transformers"},
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    hosted = build_worker(shared=container)
    worker = hosted.embedded_worker()
    worker.start()
    with TestClient(create_app(container)) as client:
        yield client, container
    worker.stop()
    hosted.close()
    container.close()


@pytest.fixture
def api(server: tuple[TestClient, ApiServices], request: pytest.FixtureRequest) -> Api:
    """Users victim (staff), bob (eng) and carol (staff) of this test alone: the names are
    the test's own, so the shared server's other documents never match."""
    client, container = server
    suffix = f"-{abs(hash(request.node.name)) % 10**8}"
    keys = {"admin": ADMIN}
    for user, groups in (("victim", ["staff"]), ("bob", ["eng"]), ("carol", ["staff"])):
        container.users.add_user(user + suffix, groups=groups)
        keys[user] = container.users.issue_key(user + suffix)
    client.cookies.clear()
    return Api(client, container, keys, suffix)


def _connector_document(api: Api, tmp: Path, source: str, text: str) -> str:
    """A document the folder connector or the crawler registered under `source`, readable by
    the victim alone; its id."""
    path = tmp / "connector.md"
    path.write_text(text)
    victim = api.container.users.principal(api.name("victim")).user_id
    sink = QueueSink(api.container.intake, api.container.documents, api.container.queue)
    return sink.submit(path, source=source, acl=Acl.of(users=[victim]), filename="announce.md").document_id


NAMINGS = [
    ("upload", {}),
    ("upload-scheme", {"source_url": "upload:victim/announce.md"}),
    ("file-scheme", {"source_url": "file:///srv/share/announce.md"}),
    ("https-scheme", {"source_url": "https://intranet.example/announce.md"}),
    ("free-form", {"source_url": "announce"}),
    ("folder-connector", {"connector": "file:///srv/share/announce.md"}),
    ("crawler", {"connector": "https://intranet.example/announce.md"}),
]


@pytest.mark.parametrize(("how", "naming"), NAMINGS, ids=[n for n, _ in NAMINGS])
def test_another_user_can_neither_read_replace_nor_reacl_a_document(
    api: Api, tmp_path: Path, how: str, naming: dict[str, str]
) -> None:
    secret = "The victim's launch code is VICTIM-7781 and the budget is private."
    if "connector" in naming:
        victim_id = _connector_document(api, tmp_path, naming["connector"], secret)
        attack_source = {"source_url": naming["connector"]}
    else:
        reply = api.upload("victim", "announce.md", secret, **naming)
        assert reply.status_code == 202, reply.text
        victim_id = reply.json()["id"]
        attack_source = naming
    before = api.settle("victim")[victim_id]
    assert before["status"] == "indexed"

    # The review's reproduction (an empty file), then real content with a wider ACL.
    for text, acl in (("", None), ("Attacker text: the launch code is ATTACK-0001.", '{"groups": ["eng"]}')):
        form = dict(attack_source) | ({"acl": acl} if acl else {})
        reply = api.upload("bob", "announce.md", text, **form)
        assert reply.status_code == 202, reply.text
        assert reply.json()["id"] != victim_id  # the writer's own, separate document
    api.settle("bob")
    after = api.settle("victim")[victim_id]
    assert (after["version"], after["acl"], after["title"]) == (
        before["version"],
        before["acl"],
        before["title"],
    )
    assert "VICTIM-7781" in api.found("victim", "launch code budget")
    assert "ATTACK-0001" not in api.found("victim", "launch code budget")
    assert "VICTIM-7781" not in api.found("bob", "launch code budget")
    assert "VICTIM-7781" not in api.found("carol", "launch code budget")  # staff, not granted
    bob = api.auth("bob")
    missing = api.client.get(f"{DOCUMENTS}/00000000-0000-0000-0000-000000000000", headers=bob)
    for reply in (
        api.client.get(f"{DOCUMENTS}/{victim_id}", headers=bob),
        api.client.get(f"{DOCUMENTS}/{victim_id}/content", headers=bob),
        api.client.put(f"{DOCUMENTS}/{victim_id}/acl", headers=bob, json={"groups": ["eng"]}),
        api.client.delete(f"{DOCUMENTS}/{victim_id}", headers=bob),
    ):
        assert (reply.status_code, reply.content) == (404, missing.content)  # exactly like a missing one
    assert api.client.get(f"{DOCUMENTS}/{victim_id}/content", headers=api.auth("victim")).text == secret


def test_a_failed_new_version_never_changes_the_acl_of_the_current_one(api: Api) -> None:
    reply = api.upload("victim", "plan.md", "The merger plan names HANBIT-4410 as the target.")
    doc_id = reply.json()["id"]
    api.settle("victim")
    broken = api.upload("victim", "plan.md", "   \n ", acl='{"groups": ["staff"]}')
    assert broken.json()["id"] == doc_id
    doc = api.settle("victim")[doc_id]
    assert doc["error_code"] == "empty_document"
    assert doc["acl"] == {"users": [api.name("victim")], "groups": [], "public": False}
    assert "HANBIT-4410" not in api.found("carol", "merger plan target")
    assert api.client.get(f"{DOCUMENTS}/{doc_id}", headers=api.auth("carol")).status_code == 404
    # A good new version with the wider ACL does change it, once it is current.
    api.upload("victim", "plan.md", "The merger plan now names HANBIT-5520.", acl='{"groups": ["staff"]}')
    assert api.settle("victim")[doc_id]["acl"]["groups"] == ["staff"]
    assert "HANBIT-5520" in api.found("carol", "merger plan")


def test_only_admins_publish_to_everyone(api: Api) -> None:
    refused = api.upload("bob", "memo.md", "Public memo.", acl='{"public": true}')
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    own = api.upload("bob", "memo.md", "Bob's memo about PUBLISH-1.")
    api.settle("bob")
    body = {"users": [], "groups": [], "public": True}
    reply = api.client.put(f"{DOCUMENTS}/{own.json()['id']}/acl", headers=api.auth("bob"), json=body)
    assert reply.status_code == 403
    assert "PUBLISH-1" not in api.found("carol", "memo")
    published = api.upload("admin", "notice.md", "Company notice NOTICE-9.", acl='{"public": true}')
    assert published.status_code == 202
    api.settle("admin")
    assert "NOTICE-9" in api.found("carol", "company notice")


def test_a_recreated_name_starts_empty(api: Api) -> None:
    admin = api.auth("admin")
    diary = api.upload("victim", "diary.md", "Private diary entry DIARY-3301 about the offsite.")
    shared = api.upload(
        "carol",
        "list.md",
        "Shared list LIST-77 for the offsite.",
        acl=json.dumps({"users": [api.name("victim")]}),
    )
    api.settle("victim")
    api.settle("carol")
    chat = api.client.post(
        "/api/v1/chat", headers=api.auth("victim"), json={"message": "offsite diary"}
    ).json()
    feedback = api.client.post(
        f"/api/v1/messages/{chat['message_id']}/feedback", headers=api.auth("victim"), json={"rating": 1}
    )
    assert feedback.status_code == 204
    old_key = api.keys["victim"]
    assert api.client.delete(f"/api/v1/users/{api.name('victim')}", headers=admin).status_code == 204
    assert (
        api.client.post("/api/v1/users", headers=admin, json={"username": api.name("victim")}).status_code
        == 201
    )
    recreated = datetime.now(UTC).isoformat()
    api.keys["victim"] = api.client.post(
        f"/api/v1/users/{api.name('victim')}/api-keys", headers=admin
    ).json()["key"]
    assert api.client.get(DOCUMENTS, headers={"Authorization": f"Bearer {old_key}"}).status_code == 401
    me = api.auth("victim")
    listed = {d["id"] for d in api.client.get(DOCUMENTS, headers=me).json()["documents"]}
    assert not listed & {diary.json()["id"], shared.json()["id"]}  # only what everyone may read
    assert api.client.get("/api/v1/conversations", headers=me).json()["conversations"] == []
    assert api.client.get(f"/api/v1/conversations/{chat['conversation_id']}", headers=me).status_code == 404
    again = api.client.post(
        f"/api/v1/messages/{chat['message_id']}/feedback", headers=me, json={"rating": -1}
    )
    assert again.status_code == 404
    assert api.client.get(f"{DOCUMENTS}/{shared.json()['id']}", headers=me).status_code == 404
    found = api.found("victim", "offsite diary list")
    assert "DIARY-3301" not in found and "LIST-77" not in found
    # carol's document no longer names anybody who exists
    stored = api.container.documents.get(shared.json()["id"])
    assert stored.acl_users and not api.container.users.names_for(stored.acl_users)
    period = {"user": api.name("victim"), "since": "2000-01-01T00:00:00Z", "until": recreated}
    seen = api.client.get("/api/v1/audit/seen", params=period, headers=admin)
    assert seen.status_code == 200 and seen.json()["documents"] == []  # the old account's views stay its own


def test_password_change_and_removal_end_every_session(api: Api) -> None:
    api.container.passwords.set_password(api.name("bob"), "correct horse battery")
    cookies = []
    for _ in range(2):
        reply = api.client.post(
            "/api/v1/auth/login", json={"username": api.name("bob"), "password": "correct horse battery"}
        )
        assert reply.status_code == 200, reply.text
        cookies.append(reply.cookies["sillok_session"])
        api.client.cookies.clear()

    def me(cookie: str) -> int:
        return api.client.get("/api/v1/me", cookies={"sillok_session": cookie}).status_code

    assert [me(c) for c in cookies] == [200, 200]
    api.container.passwords.set_password(api.name("bob"), "a brand new passphrase")
    assert [me(c) for c in cookies] == [401, 401]
    reply = api.client.post(
        "/api/v1/auth/login", json={"username": api.name("bob"), "password": "a brand new passphrase"}
    )
    cookie = reply.cookies["sillok_session"]
    api.client.cookies.clear()
    assert me(cookie) == 200
    assert api.client.delete(f"/api/v1/users/{api.name('bob')}", headers=api.auth("admin")).status_code == 204
    assert me(cookie) == 401
    assert api.client.get("/api/v1/me", headers=api.auth("bob")).status_code == 401


def test_stored_strings_have_limits_in_the_schema(api: Api) -> None:
    long_title = api.upload("bob", "a.md", "text", title="T" * 301)
    assert long_title.status_code == 400 and long_title.json()["error"]["code"] == "invalid_input"
    long_source = api.upload("bob", "a.md", "text", source_url="s" * 2049)
    assert long_source.status_code == 400
    long_name = api.upload("bob", "n" * 256 + ".md", "text")
    assert long_name.status_code == 400
    admin = api.auth("admin")
    for body in (
        {"username": "u" * 129},
        {"username": "ok", "groups": ["g" * 129]},
        {"username": "ok", "email": "e" * 321},
    ):
        assert api.client.post("/api/v1/users", headers=admin, json=body).status_code == 400
    schema = api.client.get("/openapi.json").json()
    upload = schema["paths"][DOCUMENTS]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["title"]["maxLength"] == 300
