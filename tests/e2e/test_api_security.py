"""The API's front door: API keys, the bootstrap token and OIDC access tokens authenticate; every
rejected credential is the same 401; rate limits answer 429 with Retry-After; every response
carries the security headers; CORS is closed unless an origin is configured."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from core.settings import LimitSettings, OidcSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices

pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "bootstrap-" + "k9" * 16
AUDIENCE = "sillok-api"
ALLOWED_ORIGIN = "https://tools.example.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
DOCUMENTS = "/api/v1/documents"


class Jwks(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        public: dict[str, Any] = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def make_client(tmp_path: Path, issuer: str, **limits: Any) -> tuple[TestClient, ApiServices]:
    settings = Settings(
        data_dir=tmp_path,
        bootstrap_admin_token=ADMIN_TOKEN,
        oidc=OidcSettings(issuer=issuer, audience=AUDIENCE, jwks_url=f"{issuer}/certs", timeout_s=2),
        limits=LimitSettings(**{"cors_origins": [ALLOWED_ORIGIN], **limits}),
    )
    container = ApiServices(settings)
    return TestClient(create_app(container)), container


@pytest.fixture
def api(tmp_path: Path, issuer: str) -> Iterator[tuple[TestClient, ApiServices]]:
    client, container = make_client(tmp_path, issuer)
    yield client, container
    container.close()


def token(issuer: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "u-17",
        "preferred_username": "jiwoo",
        "groups": ["/finance", "eng"],
        "iat": now,
        "exp": now + 300,
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, KEY, "RS256", headers={"kid": "k1"})


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def assert_secure(response: Any, api_route: bool) -> None:
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert (response.headers.get("cache-control") == "no-store") is api_route


def test_api_key_bootstrap_token_and_headers(api: tuple[TestClient, ApiServices]) -> None:
    client, container = api
    container.users.add_user("minsu")
    key = container.users.issue_key("minsu")
    for credential in (key, ADMIN_TOKEN):
        reply = client.get(DOCUMENTS, headers=bearer(credential))
        assert reply.status_code == 200, reply.text
        assert_secure(reply, api_route=True)
    assert_secure(client.get("/healthz"), api_route=False)
    missing = client.get(DOCUMENTS)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
    assert_secure(missing, api_route=True)


def test_oidc_tokens_provision_users_and_follow_their_groups(
    api: tuple[TestClient, ApiServices], issuer: str
) -> None:
    client, container = api
    assert client.get(DOCUMENTS, headers=bearer(token(issuer))).status_code == 200
    assert container.users.principal("jiwoo").groups == {"finance", "eng"}
    assert client.get(DOCUMENTS, headers=bearer(token(issuer, groups=["eng"]))).status_code == 200
    assert container.users.principal("jiwoo").groups == {"eng"}


def test_every_rejected_credential_is_the_same_401(api: tuple[TestClient, ApiServices], issuer: str) -> None:
    client, container = api
    container.users.add_user("minsu")
    revoked = container.users.issue_key("minsu")
    container.users.remove_user("minsu")
    now = int(time.time())
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": "k1"}).encode()).decode()
    payload = jwt.utils.base64url_encode(json.dumps({"iss": issuer, "aud": AUDIENCE, "sub": "x"}).encode())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    credentials = {
        "expired": token(issuer, iat=now - 900, exp=now - 600),
        "forged": jwt.encode(
            {"iss": issuer, "aud": AUDIENCE, "sub": "x", "exp": now + 60}, other, "RS256", {"kid": "k1"}
        ),
        "wrong audience": token(issuer, aud="another-app"),
        "alg none": f"{header}.{payload.decode()}.",
        "revoked key": revoked,
        "unknown key": "slk_" + "a" * 43,
        "garbage": "hello",
    }
    bodies = set()
    for name, credential in credentials.items():
        reply = client.get(DOCUMENTS, headers=bearer(credential))
        assert reply.status_code == 401, name
        assert reply.headers["www-authenticate"] == "Bearer"
        bodies.add(reply.text)
    assert len(bodies) == 1


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, issuer: str) -> None:
    client, container = make_client(tmp_path, issuer, user_per_minute=6, burst=2)
    container.users.add_user("minsu")
    key = container.users.issue_key("minsu")
    assert [client.get(DOCUMENTS, headers=bearer(key)).status_code for _ in range(2)] == [200, 200]
    limited = client.get(DOCUMENTS, headers=bearer(key))
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert_secure(limited, api_route=True)
    assert client.get(DOCUMENTS, headers=bearer(ADMIN_TOKEN)).status_code == 200  # others are unaffected
    container.close()


def test_too_many_rejected_credentials_from_one_address(tmp_path: Path, issuer: str) -> None:
    """The address's next rejected credentials get 429; valid ones from it are still served
    (behind a shared NAT, one client guessing must not lock everyone else out)."""
    client, container = make_client(tmp_path, issuer, login_failures_per_ip=3)
    container.users.add_user("minsu")
    key = container.users.issue_key("minsu")
    for i in range(3):
        assert client.get(DOCUMENTS, headers=bearer(f"slk_wrong{i}")).status_code == 401
    blocked = client.get(DOCUMENTS, headers=bearer("slk_wrong3"))
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 60
    assert blocked.json()["error"]["code"] == "rate_limited"
    for credential in (ADMIN_TOKEN, key):
        assert client.get(DOCUMENTS, headers=bearer(credential)).status_code == 200
    assert client.post("/api/v1/search", headers=bearer("slk_wrong4"), json={"query": "x"}).status_code == 429
    container.close()


def test_cors_is_closed_except_for_configured_origins(api: tuple[TestClient, ApiServices]) -> None:
    client, _ = api
    allowed = client.get(DOCUMENTS, headers={**bearer(ADMIN_TOKEN), "Origin": ALLOWED_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "origin" in allowed.headers["vary"].lower()
    stranger = client.get(DOCUMENTS, headers={**bearer(ADMIN_TOKEN), "Origin": "https://evil.example"})
    assert stranger.status_code == 200 and "access-control-allow-origin" not in stranger.headers

    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    ok = client.options(DOCUMENTS, headers={**preflight, "Origin": ALLOWED_ORIGIN})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "authorization" in ok.headers["access-control-allow-headers"]
    refused = client.options(DOCUMENTS, headers={**preflight, "Origin": "https://evil.example"})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert refused.json()["error"]["code"] == "forbidden"


def test_cors_closed_by_default_and_headers_on_refused_uploads(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_admin_token=ADMIN_TOKEN, ingest={"max_file_mb": 1})
    container = ApiServices(settings)
    client = TestClient(create_app(container))
    reply = client.get(DOCUMENTS, headers={**bearer(ADMIN_TOKEN), "Origin": ALLOWED_ORIGIN})
    assert reply.status_code == 200 and "access-control-allow-origin" not in reply.headers
    preflight = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"}
    assert client.options(DOCUMENTS, headers=preflight).status_code == 403
    too_big = client.post(DOCUMENTS, headers=bearer(ADMIN_TOKEN), files={"file": ("a.txt", b"x" * 2_100_000)})
    assert too_big.status_code == 413
    assert_secure(too_big, api_route=True)
    container.close()
