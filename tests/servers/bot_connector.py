"""A local Bot Connector that records what a Teams bot posts, and a local token issuer.

It answers what the bot calls at an activity's `serviceUrl`:

- `POST v3/conversations/{id}/activities` (a new activity; its id is returned),
- `PUT v3/conversations/{id}/activities/{activityId}` (an update),
- `POST v3/conversations/{id}/activities/{activityId}` (a reply),
- `GET v3/conversations/{id}/members/{userId}` and `GET v3/conversations/{id}/pagedmembers`
  (the roster a test sets in `rosters`, paged by `pageSize`),
- `POST v3/conversations` (a 1:1 chat with one member: `a:1to1-{member id}`).

`fail_posts` makes the next N new-activity posts answer 502, as a connector outage does.

`TokenIssuer` holds an RS256 key and serves OpenID metadata and a JWKS, at
`{url}/openid/.well-known/openidconfiguration` and `{url}/openid/keys`, so a strict-mode test
signs channel tokens the way the Bot Framework does (`issuer`, `aud` = app id, `serviceurl`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jwt.algorithms import RSAAlgorithm

from tests.e2e.helpers import free_port

ISSUER = "https://api.botframework.com"


@dataclass
class Member:
    """A Teams member as the connector describes one."""

    id: str  # 29:… channel id
    aad_object_id: str
    email: str | None
    name: str = ""

    def json(self) -> dict[str, Any]:
        data = {"id": self.id, "aadObjectId": self.aad_object_id, "name": self.name or self.id}
        if self.email:
            data |= {"email": self.email, "userPrincipalName": self.email}
        return data


@dataclass
class Recorded:
    """One call the bot made that changes what users see."""

    method: str  # "POST" or "PUT"
    conversation: str
    activity_id: str
    body: dict[str, Any]


@dataclass
class TokenIssuer:
    """An RS256 key with its JWKS; signs channel tokens for strict-mode tests."""

    kid: str = "local-key"
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(
        self, audience: str, service_url: str, issuer: str = ISSUER, ttl_s: int = 600, **claims: Any
    ) -> str:
        now = int(time.time())
        payload = {"iss": issuer, "aud": audience, "serviceurl": service_url, "nbf": now, "exp": now + ttl_s}
        return jwt.encode({**payload, **claims}, self.key, algorithm="RS256", headers={"kid": self.kid})


@dataclass
class BotConnector:
    """The recording connector; `url` is set once serving (with a trailing slash)."""

    rosters: dict[str, list[Member]] = field(default_factory=dict)
    posted: list[Recorded] = field(default_factory=list)
    fail_posts: int = 0
    issuer: TokenIssuer = field(default_factory=TokenIssuer)
    url: str = ""
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def wait_posts(self, count: int, timeout: float = 60.0) -> list[Recorded]:
        """Every recorded post once there are at least `count` (or at the timeout)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.posted) >= count, timeout=timeout)
            return list(self.posted)

    def member(self, conversation: str, member_id: str) -> Member | None:
        for member in self.rosters.get(conversation, []):
            if member_id in (member.id, member.aad_object_id):
                return member
        return None

    def _record(self, method: str, conversation: str, activity_id: str | None, body: dict[str, Any]) -> str:
        with self._changed:
            if activity_id is None:
                self._next += 1
                activity_id = f"act-{self._next}"
            self.posted.append(Recorded(method, conversation, activity_id, body))
            self._changed.notify_all()
            return activity_id

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/openid/.well-known/openidconfiguration")
        def metadata() -> dict[str, Any]:
            return {
                "issuer": ISSUER,
                "jwks_uri": f"{self.url}openid/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }

        @app.get("/openid/keys")
        def keys() -> dict[str, Any]:
            return self.issuer.jwks()

        @app.post("/v3/conversations")
        async def create(request: Request) -> JSONResponse:
            body = await request.json()
            member = body["members"][0]["id"]
            return JSONResponse({"id": f"a:1to1-{member}"}, status_code=201)

        @app.post("/v3/conversations/{conversation}/activities")
        async def send(conversation: str, request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                if self.fail_posts > 0:
                    self.fail_posts -= 1
                    return JSONResponse({"error": {"code": "ServiceError", "message": "outage"}}, 502)
            return JSONResponse({"id": self._record("POST", conversation, None, body)}, status_code=201)

        @app.post("/v3/conversations/{conversation}/activities/{activity_id}")
        async def reply(conversation: str, activity_id: str, request: Request) -> JSONResponse:
            body = await request.json()
            return JSONResponse({"id": self._record("POST", conversation, None, body)}, status_code=201)

        @app.put("/v3/conversations/{conversation}/activities/{activity_id}")
        async def update(conversation: str, activity_id: str, request: Request) -> JSONResponse:
            body = await request.json()
            return JSONResponse({"id": self._record("PUT", conversation, activity_id, body)})

        @app.get("/v3/conversations/{conversation}/members/{member_id}")
        def member(conversation: str, member_id: str) -> JSONResponse:
            found = self.member(conversation.split(";")[0], member_id)
            if found is None:
                return JSONResponse({"error": {"code": "MemberNotFoundInConversation", "message": "no"}}, 404)
            return JSONResponse(found.json())

        @app.get("/v3/conversations/{conversation}/pagedmembers")
        def paged(
            conversation: str, pageSize: int = 100, continuationToken: str | None = None
        ) -> JSONResponse:
            roster = self.rosters.get(conversation.split(";")[0])
            if roster is None:
                return JSONResponse({"error": {"code": "NotFound", "message": "no"}}, 404)
            start = int(continuationToken or 0)
            page = roster[start : start + pageSize]
            token = str(start + pageSize) if start + pageSize < len(roster) else None
            data: dict[str, Any] = {"members": [m.json() for m in page]}
            if token:
                data["continuationToken"] = token
            return JSONResponse(data)

        return app


@contextmanager
def bot_connector() -> Iterator[BotConnector]:
    """Serve a recording connector on localhost for the `with` block."""
    connector = BotConnector()
    port = free_port()
    config = uvicorn.Config(connector.app(), host="127.0.0.1", port=port, log_level="error")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="bot-connector", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if not runner.started:
        raise RuntimeError("the local Bot Connector did not start")
    connector.url = f"http://127.0.0.1:{port}/"
    try:
        yield connector
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
