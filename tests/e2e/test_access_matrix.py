"""Every route of the OpenAPI schema × every kind of caller, with the status each must get.

A route added without an entry here fails the test, so no route can skip the access rules.
Callers: anonymous, a revoked API key, four bad OIDC tokens (expired, forged, `alg=none`,
wrong audience), a plain user who owns the test objects, another user, and an admin.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from core.acl import Acl
from core.documents import upload_namespace
from core.settings import LimitSettings, OidcSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.worker.bootstrap import build_worker
from tests.e2e.test_api_security import AUDIENCE, KEY, issuer  # noqa: F401  (the JWKS fixture)

pytestmark = pytest.mark.e2e
ADMIN = "matrix-admin-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"
REJECTED = ("anonymous", "revoked_key", "jwt_expired", "jwt_forged", "jwt_alg_none", "jwt_wrong_audience")
CALLERS = (*REJECTED, "user", "other_user", "admin")
OPEN = dict.fromkeys(CALLERS, 200)


def expect(user: int, other: int, admin: int) -> dict[str, int]:
    """401 for every rejected credential, then the given statuses."""
    return {**dict.fromkeys(REJECTED, 401), "user": user, "other_user": other, "admin": admin}


ANYONE = expect(200, 200, 200)
ADMIN_ONLY = expect(403, 403, 200)
OWNER = expect(200, 404, 404)  # another user's document or conversation is missing, for admins too

MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/api/v1/auth/config"): OPEN,
    ("POST", "/api/v1/auth/login"): OPEN,  # anyone may try; the body carries alice's password
    ("POST", "/api/v1/auth/logout"): expect(204, 204, 204),
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("POST", "/api/v1/search"): ANYONE,
    ("POST", "/api/v1/chat"): ANYONE,
    ("GET", "/api/v1/me"): ANYONE,
    ("GET", "/api/v1/documents"): ANYONE,
    ("POST", "/api/v1/documents"): expect(202, 202, 202),
    ("GET", "/api/v1/documents/{document_id}"): OWNER,
    ("GET", "/api/v1/documents/{document_id}/content"): OWNER,
    ("GET", "/api/v1/documents/{document_id}/why"): OWNER,
    ("PUT", "/api/v1/documents/{document_id}/acl"): expect(200, 404, 200),
    ("DELETE", "/api/v1/documents/{document_id}"): expect(204, 404, 204),
    # the scene's document is indexed: only a failed one is retried (409); a stranger gets 404
    ("POST", "/api/v1/documents/{document_id}/retry"): expect(409, 404, 409),
    ("GET", "/api/v1/conversations"): ANYONE,
    ("GET", "/api/v1/conversations/{conversation_id}"): OWNER,
    ("DELETE", "/api/v1/conversations/{conversation_id}"): expect(204, 404, 404),
    ("POST", "/api/v1/messages/{message_id}/feedback"): expect(204, 404, 404),
    ("GET", "/api/v1/users"): ADMIN_ONLY,
    ("POST", "/api/v1/users"): expect(403, 403, 201),
    ("GET", "/api/v1/users/{username}"): expect(200, 403, 200),
    ("PUT", "/api/v1/users/{username}/groups"): ADMIN_ONLY,
    ("DELETE", "/api/v1/users/{username}"): expect(403, 403, 204),
    ("GET", "/api/v1/users/{username}/api-keys"): expect(200, 403, 200),
    ("POST", "/api/v1/users/{username}/api-keys"): expect(201, 403, 201),
    ("DELETE", "/api/v1/users/{username}/api-keys/{prefix}"): expect(204, 403, 204),
    ("GET", "/api/v1/groups"): ADMIN_ONLY,
    ("GET", "/api/v1/audit"): ADMIN_ONLY,
    ("GET", "/api/v1/audit/seen"): ADMIN_ONLY,
    ("GET", "/v1/models"): ANYONE,
    ("POST", "/v1/chat/completions"): ANYONE,
}


def token(iss: str, key: Any = KEY, algorithm: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": AUDIENCE, "sub": "s-1", "preferred_username": "jwtuser", "exp": now + 300}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm, headers={"kid": "k1"})


def alg_none(iss: str) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"iss": iss, "aud": AUDIENCE, "sub": "s-1", "exp": int(time.time()) + 300}
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}."


class Scene:
    """A fresh set of objects owned by `alice` for each request, so destructive routes can run."""

    def __init__(self, client: TestClient, container: ApiServices, tmp: Path) -> None:
        self.client, self.container, self.tmp = client, container, tmp
        self.count = 0

    def values(self) -> dict[str, str]:
        self.count += 1
        users, intake = self.container.users, self.container.intake
        users.add_user(f"victim{self.count}")
        path = self.tmp / f"note{self.count}.txt"
        path.write_text(f"Alice's private note number {self.count} about the parking garage.")
        alice_id = users.principal("alice").user_id
        reg = intake.submit(
            path,
            namespace=upload_namespace(alice_id),
            source=f"test:{self.count}",
            acl=Acl.of(users=[alice_id]),
            uploaded_by=alice_id,
        )
        build_worker(shared=self.container).pipeline.process(reg.document_id, reg.version)
        alice = {"Authorization": f"Bearer {self.alice_key}"}
        chat = self.client.post("/api/v1/chat", headers=alice, json={"message": "parking garage note"}).json()
        key = users.issue_key("alice")
        return {
            "document_id": reg.document_id,
            "conversation_id": chat["conversation_id"],
            "message_id": str(chat["message_id"]),
            "username": "alice",
            "prefix": key[:12],
            "victim": f"victim{self.count}",
        }

    @property
    def alice_key(self) -> str:
        return self._alice_key

    def prepare(self) -> None:
        self.container.users.add_user("alice", groups=["staff"])
        self.container.users.add_user("bob", groups=["staff"])
        self._alice_key = self.container.users.issue_key("alice")
        self.container.passwords.set_password("alice", PASSWORD)
        self.bob_key = self.container.users.issue_key("bob")
        self.revoked = self.container.users.issue_key("alice")
        self.container.users.revoke_key("alice", self.revoked[:12])


def request(
    client: TestClient, method: str, path: str, headers: dict[str, str], values: dict[str, str]
) -> int:
    if path == "/api/v1/users/{username}" and method == "DELETE":
        path = path.replace("{username}", values["victim"])
    url = path.format(**values)
    bodies: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("POST", "/api/v1/search"): lambda: {"json": {"query": "parking garage"}},
        ("POST", "/api/v1/auth/login"): lambda: {"json": {"username": "alice", "password": PASSWORD}},
        ("POST", "/api/v1/chat"): lambda: {"json": {"message": "parking garage"}},
        ("POST", "/api/v1/documents"): lambda: {"files": {"file": ("x.txt", b"hello world", "text/plain")}},
        ("PUT", "/api/v1/documents/{document_id}/acl"): lambda: {"json": {"users": ["alice"]}},
        ("POST", "/api/v1/messages/{message_id}/feedback"): lambda: {"json": {"rating": 1}},
        ("POST", "/api/v1/users"): lambda: {"json": {"username": "newcomer", "groups": ["staff"]}},
        ("PUT", "/api/v1/users/{username}/groups"): lambda: {"json": {"groups": ["staff"]}},
        ("POST", "/v1/chat/completions"): lambda: {
            "json": {"model": "sillok", "messages": [{"role": "user", "content": "parking"}]}
        },
    }
    params = {"user": "alice", "since": "2020-01-01T00:00:00", "until": "2100-01-01T00:00:00"}
    extra = bodies.get((method, path), dict)()
    client.cookies.clear()  # the login route sets a session cookie; each caller brings only its own
    if path == "/api/v1/audit/seen":
        extra["params"] = params
    return client.request(method, url, headers=headers, **extra).status_code


@pytest.fixture
def scene(tmp_path: Path, database_url: str, issuer: str) -> Iterator[Scene]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_admin_token=ADMIN,
        embedding={"backend": "sentence-transformers"},
        oidc=OidcSettings(issuer=issuer, audience=AUDIENCE, jwks_url=f"{issuer}/certs", timeout_s=2),
        limits=LimitSettings(user_per_minute=0, key_per_minute=0, login_failures_per_ip=100_000),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    with TestClient(create_app(container)) as client:
        current = Scene(client, container, tmp_path)
        current.prepare()
        yield current
    container.close()


def test_every_route_answers_every_caller_as_specified(scene: Scene, issuer: str) -> None:  # noqa: F811
    schema = scene.client.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert routes == set(MATRIX), f"routes without an entry: {sorted(routes - set(MATRIX))}"
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    credentials = {
        "anonymous": None,
        "revoked_key": scene.revoked,
        "jwt_expired": token(issuer, exp=int(time.time()) - 600, iat=int(time.time()) - 900),
        "jwt_forged": token(issuer, key=forged),
        "jwt_alg_none": alg_none(issuer),
        "jwt_wrong_audience": token(issuer, aud="another-service"),
        "user": scene.alice_key,
        "other_user": scene.bob_key,
        "admin": ADMIN,
    }
    wrong = []
    shared = scene.values()
    for (method, path), expected in sorted(MATRIX.items()):
        for caller in CALLERS:
            credential = credentials[caller]
            headers = {"Authorization": f"Bearer {credential}"} if credential else {}
            fresh = method == "DELETE" and expected[caller] < 300  # the request destroys its target
            status = request(scene.client, method, path, headers, scene.values() if fresh else shared)
            if status != expected[caller]:
                wrong.append(f"{method} {path} as {caller}: {status}, expected {expected[caller]}")
    print(f"{len(MATRIX)} routes x {len(CALLERS)} callers checked")
    assert wrong == []
