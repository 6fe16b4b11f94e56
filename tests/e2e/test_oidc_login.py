"""Web sign-in through an OpenID Connect provider: authorization code with PKCE, state and
nonce checked, the user provisioned with the provider's groups, a session cookie at the end.

The provider is a small local server that enforces PKCE (S256) and one-time codes."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from core.settings import OidcSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from tests.e2e.test_api_security import KEY

pytestmark = pytest.mark.e2e
CLIENT_ID = "sillok-web"
CODES: dict[str, dict[str, str]] = {}


class Provider(BaseHTTPRequestHandler):
    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        url = urlparse(self.path)
        if url.path == "/.well-known/openid-configuration":
            self._json(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/certs",
                }
            )
        elif url.path == "/certs":
            public: dict[str, Any] = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
            self._json({"keys": [{**public, "kid": "k1", "use": "sig"}]})
        elif url.path == "/authorize":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID
            code = secrets.token_urlsafe(16)
            CODES[code] = {**query, "issuer": base}
            self.send_response(302)
            self.send_header(
                "Location", f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
            )
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        form = {
            k: v[0]
            for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()
        }
        grant = CODES.pop(form.get("code", ""), None)  # one-time codes
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            grant is None
            or challenge != grant["code_challenge"]
            or form["redirect_uri"] != grant["redirect_uri"]
        ):
            self._json({"error": "invalid_grant"}, 400)
            return
        now = int(time.time())
        claims = {
            "iss": grant["issuer"],
            "aud": CLIENT_ID,
            "sub": "u-42",
            "preferred_username": "jiwoo",
            "groups": ["eng"],
            "nonce": grant["nonce"],
            "iat": now,
            "exp": now + 300,
        }
        self._json(
            {"id_token": jwt.encode(claims, KEY, "RS256", headers={"kid": "k1"}), "token_type": "Bearer"}
        )

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(
        data_dir=tmp_path,
        oidc=OidcSettings(issuer=issuer, audience="sillok-api", client_id=CLIENT_ID, timeout_s=2),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    with TestClient(create_app(container)) as test_client:
        yield test_client
    container.close()
    server.shutdown()


def sign_in(client: TestClient) -> httpx.Response:
    start = client.get("/api/v1/auth/oidc/start", follow_redirects=False)
    assert start.status_code == 303
    back = httpx.get(start.headers["location"], follow_redirects=False)
    callback = urlparse(back.headers["location"])
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def test_code_flow_with_pkce_opens_a_session(client: TestClient) -> None:
    assert client.get("/api/v1/auth/config").json()["oidc"] is True
    done = sign_in(client)
    assert done.status_code == 303 and done.headers["location"] == "/"
    me = {"username": "jiwoo", "groups": ["eng"], "admin": False, "key_prefix": None, "scopes": None}
    assert client.get("/api/v1/me").json() == me


def test_a_forged_state_or_a_lost_verifier_is_refused(client: TestClient) -> None:
    start = client.get("/api/v1/auth/oidc/start", follow_redirects=False)
    back = urlparse(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
    query = parse_qs(back.query)
    forged = client.get(f"{back.path}?code={query['code'][0]}&state=attacker", follow_redirects=False)
    assert forged.status_code == 401
    client.cookies.clear()  # the browser that started the login is not the one finishing it
    stolen = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert stolen.status_code == 401
    assert client.get("/api/v1/me").status_code == 401
