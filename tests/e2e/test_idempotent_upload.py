"""`Idempotency-Key` on `POST /api/v1/documents`, on SQLite and PostgreSQL: a retried upload gets
the first answer and changes nothing, the same key with another file is refused, keys are each
caller's own, and a malformed key is a 400."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.api.bootstrap import ApiServices
from tests.e2e.helpers import api_in_process

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer idempotent-admin-token-0123456789ab"}
POLICY = b"Expense claims are filed within 30 days of the purchase."


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, ApiServices]]:
    with api_in_process(tmp_path / "data", database_url, ADMIN["Authorization"].split()[1]) as api:
        yield api


def upload(client: TestClient, content: bytes, auth: dict[str, str], key: str | None = None) -> Any:
    headers = {**auth, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post("/api/v1/documents", headers=headers, files={"file": ("expenses.txt", content)})


def uploads_audited(container: ApiServices) -> int:
    return sum(e["action"] == "document.upload" for e in container.audit.events())


def test_a_retried_upload_gets_the_first_answer_and_changes_nothing(
    api: tuple[TestClient, ApiServices],
) -> None:
    client, container = api
    first = upload(client, POLICY, ADMIN, "retry-7f3a")
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    again = upload(client, POLICY, ADMIN, "retry-7f3a")
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert uploads_audited(container) == 1  # the retry registered and audited nothing
    other = upload(client, b"Travel is booked through the portal.", ADMIN, "retry-7f3a")
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
    assert "Idempotency-Key" in other.json()["error"]["message"]


def test_keys_are_each_callers_own(api: tuple[TestClient, ApiServices]) -> None:
    client, container = api
    client.post("/api/v1/users", headers=ADMIN, json={"username": "mina"}).raise_for_status()
    key = client.post("/api/v1/users/mina/api-keys", headers=ADMIN).json()["key"]
    mina = {"Authorization": f"Bearer {key}"}
    mine = upload(client, POLICY, ADMIN, "shared-name")
    hers = upload(client, b"Mina's own notes on expenses.", mina, "shared-name")
    assert mine.status_code == hers.status_code == 202 and mine.json()["id"] != hers.json()["id"]
    assert uploads_audited(container) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tinside"])
def test_a_malformed_key_is_refused(api: tuple[TestClient, ApiServices], key: str) -> None:
    client, container = api
    reply = upload(client, POLICY, ADMIN, key)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_input"
    assert uploads_audited(container) == 0


def test_without_a_key_uploads_behave_as_before(api: tuple[TestClient, ApiServices]) -> None:
    client, container = api
    assert upload(client, POLICY, ADMIN).status_code == upload(client, POLICY, ADMIN).status_code == 202
    assert uploads_audited(container) == 2
