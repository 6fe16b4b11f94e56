"""Web UI sessions: an HttpOnly cookie, a CSRF token on every state-changing request, sign-in
throttling, and sessions that end with logout or with the user."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import LimitSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices

pytestmark = pytest.mark.e2e
ADMIN = "session-admin-token-0123456789abcdef"
PASSWORD = "a long and private passphrase"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, ApiServices]]:
    settings = Settings(
        data_dir=tmp_path,
        bootstrap_admin_token=ADMIN,
        limits=LimitSettings(login_failures_per_user=3),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    container.users.add_user("hana", groups=["hr"])
    container.passwords.set_password("hana", PASSWORD)
    with TestClient(create_app(container)) as client:
        yield client, container
    container.close()


def test_login_sets_an_httponly_cookie_and_requires_csrf(api: tuple[TestClient, ApiServices]) -> None:
    client, _ = api
    assert client.get("/api/v1/auth/config").json()["local"] is True
    reply = client.post("/api/v1/auth/login", json={"username": "hana", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    cookies = reply.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("sillok_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    csrf = reply.json()["csrf"]
    me = {"username": "hana", "groups": ["hr"], "admin": False, "key_prefix": None, "scopes": None}
    assert client.get("/api/v1/me").json() == me  # a session: no key, every right of the user
    refused = client.post("/api/v1/documents", files={"file": ("a.txt", b"hello", "text/plain")})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set("sillok_session", session.split(";")[0].split("=", 1)[1])
    assert client.get("/api/v1/me").status_code == 401  # the old cookie no longer opens anything


def test_failed_sign_ins_are_throttled_and_look_alike(api: tuple[TestClient, ApiServices]) -> None:
    client, _ = api
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "whatever it is"})
    wrong = client.post("/api/v1/auth/login", json={"username": "hana", "password": "not the password"})
    assert unknown.status_code == wrong.status_code == 401 and unknown.json() == wrong.json()
    for _ in range(3):
        client.post("/api/v1/auth/login", json={"username": "hana", "password": "still wrong"})
    blocked = client.post("/api/v1/auth/login", json={"username": "hana", "password": PASSWORD})
    assert blocked.status_code == 429 and "retry-after" in blocked.headers


def login_from(container: ApiServices, address: str, password: str) -> int:
    client = TestClient(create_app(container), client=(address, 50000))
    return client.post("/api/v1/auth/login", json={"username": "hana", "password": password}).status_code


def test_guessing_from_elsewhere_never_locks_the_account_out(tmp_path: Path) -> None:
    """Ten and more wrong passwords from one address stop that address guessing (429), but the
    user signs in from their own; failures spread over many addresses only slow sign-ins down."""
    settings = Settings(
        data_dir=tmp_path,
        bootstrap_admin_token=ADMIN,
        limits=LimitSettings(login_failures_per_user=10, login_delay_max_s=0.5),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    container.users.add_user("hana", groups=["hr"])
    container.passwords.set_password("hana", PASSWORD)
    attacker, own = "203.0.113.66", "10.20.30.40"
    assert [login_from(container, attacker, f"guess {i}") for i in range(10)] == [401] * 10
    assert login_from(container, attacker, "guess 10") == 429  # this username from this address
    assert login_from(container, attacker, PASSWORD) == 429  # refused before the password is checked
    started = time.monotonic()
    assert login_from(container, own, PASSWORD) == 200  # the user is not locked out
    assert time.monotonic() - started < 1.0

    for i in range(8):  # a botnet: ten more failures, each from a new address
        assert login_from(container, f"198.51.100.{i}", f"guess {i}") == 401
    started = time.monotonic()
    assert login_from(container, own, PASSWORD) == 200  # still signs in, only slowed down
    assert 0.4 <= time.monotonic() - started < 3.0
    container.close()


def test_removing_the_user_ends_their_sessions(api: tuple[TestClient, ApiServices]) -> None:
    client, container = api
    assert (
        client.post("/api/v1/auth/login", json={"username": "hana", "password": PASSWORD}).status_code == 200
    )
    assert client.get("/api/v1/me").status_code == 200
    container.users.set_groups("hana", ["finance"])
    assert client.get("/api/v1/me").json()["groups"] == ["finance"]  # the next request already knows
    container.users.remove_user("hana")
    assert client.get("/api/v1/me").status_code == 401
