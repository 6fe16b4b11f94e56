"""The audit log answers "which documents did this user see between T1 and T2" for a scripted
session, records admin changes with before and after, and "why can I see this" explains search
results by the token and ACL entry that matched."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE
from core.settings import LimitSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.worker.bootstrap import build_worker

pytestmark = pytest.mark.e2e
ADMIN = "audit-admin-token-0123456789abcdef"
DOCS = {
    "canteen": ("The canteen serves bibimbap every Tuesday.", Acl.of(public=True)),
    "payroll": ("Payroll closes on the 20th; salaries are paid on the 25th.", Acl.of(groups=["finance"])),
    "review": ("Alice's performance review is scheduled for June.", Acl.of(users=["alice"])),
    "merger": ("The merger code name is BLUE HERON.", Acl.of(groups=["board"])),
}


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, ApiServices, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_admin_token=ADMIN,
        embedding={"backend": "sentence-transformers"},
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    worker = build_worker(shared=container)
    container.users.add_user("alice", groups=["finance"])
    container.users.add_user("bob", groups=["board"])
    ids = {}
    for name, (text, acl) in DOCS.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        acl = Acl.of(container.users.ids_for(acl.users).values(), acl.groups, acl.public)
        reg = container.intake.submit(
            path, namespace=CONNECTOR_NAMESPACE, source=f"test:{name}", acl=acl, title=name
        )
        worker.pipeline.process(reg.document_id, reg.version)
        ids[name] = reg.document_id
    with TestClient(create_app(container)) as client:
        yield client, container, ids
    worker.close()
    container.close()


def moment() -> str:
    time.sleep(0.05)
    now = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    return now


def test_which_documents_a_user_saw_and_why(api: tuple[TestClient, ApiServices, dict[str, str]]) -> None:
    client, container, ids = api
    alice = {"Authorization": f"Bearer {container.users.issue_key('alice')}"}
    bob = {"Authorization": f"Bearer {container.users.issue_key('bob')}"}
    admin = {"Authorization": f"Bearer {ADMIN}"}

    t0 = moment()
    hits = client.post("/api/v1/search", headers=alice, json={"query": "when are salaries paid", "top_k": 10})
    seen_in_search = {r["document_id"] for r in hits.json()["results"]}
    assert seen_in_search == {ids["canteen"], ids["payroll"], ids["review"]}  # never the merger
    t1 = moment()
    client.get(f"/api/v1/documents/{ids['review']}", headers=alice)
    client.post("/api/v1/chat", headers=bob, json={"message": "merger code name"})
    t2 = moment()
    reply = client.put("/api/v1/users/alice/groups", headers=admin, json={"groups": ["finance", "hr"]})
    assert reply.status_code == 200

    def seen(user: str, since: str, until: str) -> set[str]:
        params = {"user": user, "since": since, "until": until}
        reply = client.get("/api/v1/audit/seen", headers=admin, params=params)
        assert reply.status_code == 200, reply.text
        return {d["document_id"] for d in reply.json()["documents"]}

    assert seen("alice", t0, t1) == seen_in_search
    assert seen("alice", t1, t2) == {ids["review"]}
    assert seen("bob", t0, t2) == {ids["merger"]}
    assert seen("alice", t2, moment()) == set()

    lines = client.get("/api/v1/audit", headers=admin, params={"since": t0}).text.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice", "search"),
        ("alice", "document.read"),
        ("bob", "chat"),
        ("admin", "user.groups"),
    ]
    change = events[-1]["detail"]
    assert change["before"] == ["finance"] and change["after"] == ["finance", "hr"]
    assert events[0]["detail"]["query"] == "when are salaries paid"

    alice_id = container.users.principal("alice").user_id  # ACL tokens name the account's immutable id
    expected = {"canteen": "public", "payroll": "group:finance", "review": f"user:{alice_id}"}
    for result in hits.json()["results"]:
        name = result["title"]
        why = client.get(
            f"/api/v1/documents/{result['document_id']}/why",
            headers=alice,
            params={"chunk_id": result["chunk_id"]},
        ).json()
        assert [m["token"] for m in why["matches"]] == [expected[name]], why
        assert why["chunk"]["id"] == result["chunk_id"] and why["version"]
    hidden = client.get(f"/api/v1/documents/{ids['merger']}/why", headers=alice)
    missing = client.get("/api/v1/documents/00000000-0000-0000-0000-000000000000/why", headers=alice)
    assert hidden.status_code == missing.status_code == 404 and hidden.json() == missing.json()
