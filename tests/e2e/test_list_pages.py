"""Cursor pages on the users, groups, conversations and audit lists, on SQLite and PostgreSQL:
following `next_cursor` (or the audit log's `Link`) yields every row once, in order; another
user's conversations never appear; a cursor this server did not write is a 400."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.cursor import encode as cursor_of
from core.types import Answer
from serving.api.bootstrap import ApiServices
from tests.e2e.helpers import api_in_process

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer list-pages-admin-token-0123456789abcd"}
NAMES = [f"user{i:02d}" for i in range(7)]


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, ApiServices]]:
    token = ADMIN["Authorization"].split()[1]
    with api_in_process(tmp_path / "data", database_url, token) as (client, container):
        for i, name in enumerate(reversed(NAMES)):
            body = {"username": name, "groups": [f"team{i}"]}
            client.post("/api/v1/users", headers=ADMIN, json=body).raise_for_status()
        yield client, container


def pages(client: TestClient, path: str, field: str, limit: int, headers: dict[str, str]) -> list[list[Any]]:
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        reply = client.get(path, params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        found.append(reply.json()[field])
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return found


def test_users_and_groups_page_by_name(api: tuple[TestClient, ApiServices]) -> None:
    client, _ = api
    users = pages(client, "/api/v1/users", "users", 3, ADMIN)
    names = [u["username"] for page in users for u in page]
    assert names == sorted(names) and set(names) >= set(NAMES) and len(names) == len(set(names))
    assert all(len(page) <= 3 for page in users) and len(users) >= 3
    groups = pages(client, "/api/v1/groups", "groups", 2, ADMIN)
    teams = [g["name"] for page in groups for g in page]
    assert teams == sorted(f"team{i}" for i in range(7))


def test_conversations_page_most_recent_first_and_only_the_callers(
    api: tuple[TestClient, ApiServices],
) -> None:
    client, container = api
    owner, other = container.users.principal("user01"), container.users.principal("user02")
    made = [
        container.conversations.record(owner, None, f"question {i}", Answer("a", False), "rest")[0]
        for i in range(5)
    ]
    container.conversations.record(other, None, "someone else's", Answer("a", False), "rest")
    key = client.post("/api/v1/users/user01/api-keys", headers=ADMIN).json()["key"]
    listed = pages(client, "/api/v1/conversations", "conversations", 2, {"Authorization": f"Bearer {key}"})
    assert [c["id"] for page in listed for c in page] == list(reversed(made))
    assert [len(page) for page in listed] == [2, 2, 1]


def test_the_audit_log_pages_by_link(api: tuple[TestClient, ApiServices]) -> None:
    client, _ = api
    whole = [line for line in client.get("/api/v1/audit", headers=ADMIN).text.splitlines() if line]
    assert len(whole) >= 7
    seen, url = [], "/api/v1/audit?limit=3"
    while url:
        reply = client.get(url, headers=ADMIN)
        assert reply.status_code == 200
        seen.extend(line for line in reply.text.splitlines() if line)
        link = re.fullmatch(r'<([^>]+)>; rel="next"', reply.headers.get("link", ""))
        url = link.group(1) if link else ""
    assert seen == whole


@pytest.mark.parametrize(
    "path", ["/api/v1/users", "/api/v1/groups", "/api/v1/conversations", "/api/v1/audit"]
)
def test_a_cursor_this_server_did_not_write_is_a_400(api: tuple[TestClient, ApiServices], path: str) -> None:
    client, _ = api
    for forged in ("bm90LWEtY3Vyc29y", cursor_of("not a date", "x"), cursor_of(1, 2), cursor_of("a", 1)):
        reply = client.get(path, params={"cursor": forged, "limit": 2}, headers=ADMIN)
        assert reply.status_code == 400, (forged, reply.text)
        assert reply.json()["error"]["code"] == "invalid_input"
