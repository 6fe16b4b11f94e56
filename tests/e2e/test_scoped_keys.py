"""Scoped API keys and service accounts, through the HTTP API as an internal tool uses it: a
search-only key of a service account searches and is refused everything else with 403
`insufficient_scope`; expired keys are 401 like revoked ones; a key never holds more than its
owner; a service account never signs in; the audit log names the key that acted."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE
from core.settings import LimitSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.worker.bootstrap import build_worker
from tests.e2e.helpers import SILLOK, run, sillok_env

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer scoped-admin-token-0123456789abcdef"}
BOT = "reports-bot"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, ApiServices, str]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_admin_token=ADMIN["Authorization"].split()[1],
        embedding={"backend": "sentence-transformers"},
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    worker = build_worker(shared=container)
    path = tmp_path / "payroll.txt"
    path.write_text("Payroll closes on the 20th; salaries are paid on the 25th.")
    reg = container.intake.submit(
        path,
        namespace=CONNECTOR_NAMESPACE,
        source="test:payroll",
        acl=Acl.of(groups=["finance"]),
        title="payroll",
    )
    worker.pipeline.process(reg.document_id, reg.version)
    with TestClient(create_app(container)) as client:
        yield client, container, reg.document_id
    worker.close()
    container.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def issue(client: TestClient, user: str, auth: dict[str, str], **body: Any) -> Any:
    return client.post(f"/api/v1/users/{user}/api-keys", headers=auth, json=body or None)


def refused_for_scope(reply: Any, scope: str) -> None:
    assert reply.status_code == 403, reply.text
    error = reply.json()["error"]
    assert error["code"] == "insufficient_scope" and f"'{scope}'" in error["message"]


def test_a_search_only_key_of_a_service_account(api: tuple[TestClient, ApiServices, str]) -> None:
    client, container, payroll = api
    made = client.post(
        "/api/v1/users", headers=ADMIN, json={"username": BOT, "groups": ["finance"], "service": True}
    )
    assert made.status_code == 201 and made.json()["service"] is True
    issued = issue(client, BOT, ADMIN, scopes=["search"])
    assert issued.status_code == 201 and issued.json()["scopes"] == ["search"]
    key, prefix = issued.json()["key"], issued.json()["prefix"]
    auth = bearer(key)

    found = client.post("/api/v1/search", headers=auth, json={"query": "when are salaries paid"})
    assert found.status_code == 200 and payroll in {r["document_id"] for r in found.json()["results"]}
    assert client.get("/api/v1/me", headers=auth).json()["scopes"] == ["search"]

    upload = client.post("/api/v1/documents", headers=auth, files={"file": ("memo.txt", b"a memo")})
    refused_for_scope(upload, "documents:write")
    refused_for_scope(client.post("/api/v1/chat", headers=auth, json={"message": "when is payday?"}), "chat")
    completion = {"model": "sillok", "messages": [{"role": "user", "content": "when is payday?"}]}
    refused_for_scope(client.post("/v1/chat/completions", headers=auth, json=completion), "chat")
    refused_for_scope(client.get("/api/v1/documents", headers=auth), "documents:read")
    refused_for_scope(client.delete(f"/api/v1/documents/{payroll}", headers=auth), "documents:write")
    refused_for_scope(client.get("/api/v1/users", headers=auth), "admin")
    refused_for_scope(client.get("/api/v1/audit", headers=auth), "admin")
    refused_for_scope(issue(client, BOT, auth), "admin")  # no key of its own without limits
    again = client.post("/api/v1/search", headers=auth, json={"query": "when are salaries paid"})
    assert payroll in {r["document_id"] for r in again.json()["results"]}  # nothing was deleted

    searches = [e for e in container.audit.events(action="search") if e["actor"] == BOT]
    assert [e["detail"]["key_prefix"] for e in searches] == [prefix, prefix]
    issued_events = [e for e in container.audit.events(action="key.issue") if e["detail"]["user"] == BOT]
    assert issued_events[0]["detail"]["scopes"] == ["search"]
    listed = client.get(f"/api/v1/users/{BOT}/api-keys", headers=ADMIN).json()["keys"]
    assert [(k["prefix"], k["scopes"], k["expires_at"]) for k in listed] == [(prefix, ["search"], None)]


def test_keys_without_scopes_keep_every_right_of_their_owner(
    api: tuple[TestClient, ApiServices, str],
) -> None:
    client, container, payroll = api
    container.users.add_user("hana", groups=["finance"])
    key = container.users.issue_key("hana")  # as every key issued before scopes existed
    auth = bearer(key)
    assert client.get(f"/api/v1/documents/{payroll}", headers=auth).status_code == 200
    assert client.post("/api/v1/search", headers=auth, json={"query": "payroll"}).status_code == 200
    uploaded = client.post("/api/v1/documents", headers=auth, files={"file": ("memo.txt", b"a memo")})
    assert uploaded.status_code == 202, uploaded.text
    own = issue(client, "hana", auth, scopes=["documents:read"])  # self-service, narrower
    assert own.status_code == 201
    assert client.get("/api/v1/documents", headers=bearer(own.json()["key"])).status_code == 200
    assert (
        client.post(
            "/api/v1/documents", headers=bearer(own.json()["key"]), files={"file": ("m.txt", b"x")}
        ).status_code
        == 403
    )
    assert [e["detail"]["key_prefix"] for e in container.audit.events(action="document.upload")] == [key[:12]]


def test_a_key_never_holds_more_than_its_owner(api: tuple[TestClient, ApiServices, str]) -> None:
    client, container, _ = api
    container.users.add_user("minsu", groups=["finance"])
    own = bearer(container.users.issue_key("minsu"))
    for auth in (own, ADMIN):  # neither the user nor an admin can give a non-admin's key `admin`
        reply = issue(client, "minsu", auth, scopes=["search", "admin"])
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "scope_exceeds_owner"
    assert issue(client, "minsu", own, scopes=["everything"]).status_code == 400
    assert issue(client, "minsu", own, scopes=[]).status_code == 400
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert issue(client, "minsu", own, expires_at=past).json()["error"]["code"] == "invalid_input"
    assert issue(client, "someone-else", own, scopes=["search"]).status_code == 403

    container.users.add_user("root", admin=True)
    admin_key = issue(client, "root", ADMIN, scopes=["admin"]).json()["key"]
    assert client.get("/api/v1/users", headers=bearer(admin_key)).status_code == 200
    refused_for_scope(client.post("/api/v1/search", headers=bearer(admin_key), json={"query": "x"}), "search")
    container.users.set_groups("minsu", [])  # rights follow the owner as they are now
    scoped = issue(client, "minsu", own, scopes=["search"]).json()["key"]
    hits = client.post("/api/v1/search", headers=bearer(scoped), json={"query": "salaries are paid"}).json()
    assert hits["results"] == []


def test_expired_keys_are_refused_like_revoked_ones(api: tuple[TestClient, ApiServices, str]) -> None:
    client, container, _ = api
    container.users.add_user("hana", groups=["finance"])
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    issued = issue(client, "hana", ADMIN, scopes=["search"], expires_at=soon)
    assert issued.status_code == 201 and issued.json()["expires_at"] is not None
    auth = bearer(issued.json()["key"])
    assert client.post("/api/v1/search", headers=auth, json={"query": "payroll"}).status_code == 200
    time.sleep(2.5)
    expired = client.post("/api/v1/search", headers=auth, json={"query": "payroll"})
    revoked_key = container.users.issue_key("hana")
    container.users.revoke_key("hana", revoked_key[:12])
    revoked = client.post("/api/v1/search", headers=bearer(revoked_key), json={"query": "payroll"})
    assert expired.status_code == revoked.status_code == 401
    assert expired.json() == revoked.json()


def test_a_service_account_cannot_sign_in(api: tuple[TestClient, ApiServices, str]) -> None:
    client, container, _ = api
    body = {"username": BOT, "service": True, "password": "correct horse battery staple"}
    assert client.post("/api/v1/users", headers=ADMIN, json=body).status_code == 409
    assert (
        client.post("/api/v1/users", headers=ADMIN, json={"username": BOT, "service": True}).status_code
        == 201
    )
    again = {"username": BOT, "password": "correct horse battery staple"}
    assert client.post("/api/v1/users", headers=ADMIN, json=again).status_code == 409
    container.passwords.set_password(
        BOT, "correct horse battery staple"
    )  # even if one were set below the API
    login = client.post(
        "/api/v1/auth/login", json={"username": BOT, "password": "correct horse battery staple"}
    )
    assert login.status_code == 401 and "sillok_session" not in login.cookies
    container.users.add_user("hana")
    container.passwords.set_password("hana", "correct horse battery staple")
    assert (
        client.post("/api/v1/users", headers=ADMIN, json={"username": "hana", "service": True}).status_code
        == 409
    )


def test_the_cli_makes_service_accounts_and_scoped_keys(tmp_path: Path) -> None:
    env = sillok_env(tmp_path / "data")
    assert run(["users", "add", BOT, "--service", "--group", "finance"], env).strip().endswith("service=True")
    out = run(["users", "token", BOT, "--scope", "search", "--scope", "chat", "--expires", "2099-01-01"], env)
    key = out.strip().splitlines()[-1]
    assert key.startswith("slk_") and " " not in key
    listed = [json.loads(line) for line in run(["users", "keys", BOT], env).splitlines()]
    assert [(k["prefix"], k["scopes"], k["expires_at"][:10]) for k in listed] == [
        (key[:12], ["chat", "search"], "2099-01-01")
    ]
    refused = subprocess.run(
        [SILLOK, "users", "token", BOT, "--scope", "admin"], env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "scope_exceeds_owner" in refused.stderr
    passwd = subprocess.run(
        [SILLOK, "users", "passwd", BOT], env=env, input="x" * 16 + "\n", capture_output=True, text=True
    )
    assert passwd.returncode != 0 and "service account" in passwd.stderr
