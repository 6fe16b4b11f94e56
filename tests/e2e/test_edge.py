"""The API's edge, driven at the ASGI level: credentials are checked before a body byte is read,
bodies have limits and deadlines, malformed text and out-of-range integers are 400s, a client
that goes away is not an error, and a surprise is one plain log record and a JSON 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from core.settings import ServerSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.api.inputs import SQL_INT_MAX

pytestmark = pytest.mark.e2e
ADMIN = "edge-admin-token-0123456789abcdef"
PASSWORD = "a long and private passphrase"
JSON = "application/json"
BOUNDARY = "sillokboundary"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FastAPI, ApiServices]]:
    settings = Settings(
        data_dir=tmp_path,
        bootstrap_admin_token=ADMIN,
        log_level="WARNING",
        server=ServerSettings(body_timeout_s=2.0, upload_timeout_s=5),
    )
    container = ApiServices(settings)
    container.users.add_user("hana", groups=["hr"])
    container.passwords.set_password("hana", PASSWORD)
    yield create_app(container), container
    container.close()


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test, whatever level an earlier test configured."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with capture_logs() as captured:
        yield captured
    structlog.configure(**previous)


class Exchange:
    """One request sent straight to the ASGI app, with a scripted client."""

    def __init__(self, chunks: list[bytes], then: str) -> None:
        self.chunks, self.then = list(chunks), then
        self.reads = 0  # body messages the app asked for
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        if self.chunks:
            self.reads += 1
            chunk = self.chunks.pop(0)
            return {
                "type": "http.request",
                "body": chunk,
                "more_body": bool(self.chunks) or self.then != "end",
            }
        if self.then == "disconnect":
            return {"type": "http.disconnect"}
        if self.then == "hang":
            await anyio.sleep(3600)
        await anyio.sleep_forever()  # after the body: nothing until the client leaves
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes] = (),  # type: ignore[assignment]
    then: str = "end",
    limit_s: float = 30.0,
) -> Exchange:
    exchange = Exchange(list(chunks), then)
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.1.2.3", 40000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def run() -> None:
        with anyio.fail_after(limit_s):  # a request the server never finishes fails the test
            await app(scope, exchange.receive, exchange.send)

    anyio.run(run)
    return exchange


def bearer(credential: str) -> dict[str, str]:
    return {"authorization": f"Bearer {credential}"}


def multipart(size: int) -> tuple[bytes, bytes, str]:
    """The head and tail of a one-file multipart body, and its content type."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every route of the schema that takes a request body, with its path parameters filled in."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                routes.append((method.upper(), path.replace("{", "").replace("}", "")))
    return routes


def test_every_route_with_a_body_is_covered(api: tuple[FastAPI, ApiServices]) -> None:
    app, _ = api
    routes = set(body_routes(app))
    assert {
        ("POST", "/api/v1/search"),
        ("POST", "/api/v1/chat"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/users"),
        ("PUT", "/api/v1/users/username/groups"),
        ("PUT", "/api/v1/documents/document_id/acl"),
        ("POST", "/api/v1/messages/message_id/feedback"),
    } <= routes  # the upload (multipart, read by the route itself) is added where it is needed


@pytest.mark.parametrize("credential", ["none", "unknown key", "garbage"])
def test_unauthenticated_bodies_are_refused_before_a_byte_is_read(
    api: tuple[FastAPI, ApiServices], credential: str
) -> None:
    app, _ = api
    headers = {"none": {}, "unknown key": bearer("slk_" + "x" * 43), "garbage": bearer("hello")}[credential]
    routes = {r for r in body_routes(app) if r[1] != "/api/v1/auth/login"} | {("POST", "/api/v1/documents")}
    for method, path in sorted(routes):
        for framing in ({"content-length": "900000"}, {"transfer-encoding": "chunked"}):
            sent = call(app, method, path, {**headers, **framing, "content-type": JSON}, [b"{" * 65536] * 14)
            assert sent.status == 401, (method, path, framing, sent.body)
            assert sent.json()["error"]["code"] == "unauthenticated"
            assert sent.reads == 0, f"{method} {path} read {sent.reads} body chunks before refusing"
            assert sent.headers["connection"] == "close"  # the refused body is never drained
        big = call(app, method, path, {**headers, "content-length": str(30_000_000), "content-type": JSON})
        assert big.status in (401, 413) and big.reads == 0 and big.json()["error"]["code"]


def test_a_session_without_its_csrf_token_is_refused_before_the_body(
    api: tuple[FastAPI, ApiServices],
) -> None:
    app, _ = api
    with TestClient(app) as client:
        assert (
            client.post("/api/v1/auth/login", json={"username": "hana", "password": PASSWORD}).status_code
            == 200
        )
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    sent = call(
        app, "POST", "/api/v1/search", {"cookie": cookie, "content-length": "20"}, [b'{"query": "leave"}']
    )
    assert sent.status == 403 and sent.json()["error"]["code"] == "csrf_failed" and sent.reads == 0


def test_json_bodies_have_a_small_limit_and_uploads_keep_theirs(api: tuple[FastAPI, ApiServices]) -> None:
    app, _ = api
    headers = {**bearer(ADMIN), "content-type": JSON}
    declared = call(app, "POST", "/api/v1/search", {**headers, "content-length": str(2_000_000)})
    assert declared.status == 413 and declared.reads == 0
    assert declared.json()["error"]["code"] == "payload_too_large"
    streamed = call(
        app, "POST", "/api/v1/search", {**headers, "transfer-encoding": "chunked"}, [b" " * 65536] * 40
    )
    assert streamed.status == 413 and streamed.reads <= 17  # stopped just past 1 MB, not at 2.6 MB
    head, tail, content_type = multipart(2_000_000)
    upload = call(
        app,
        "POST",
        "/api/v1/documents",
        {**bearer(ADMIN), "content-type": content_type, "transfer-encoding": "chunked"},
        [head, *([b"a" * 100_000] * 20), tail],
    )
    assert upload.status == 202, upload.body


def test_the_json_limit_is_configurable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_admin_token=ADMIN, server=ServerSettings(max_json_kb=4))
    container = ApiServices(settings)
    client = TestClient(create_app(container))
    reply = client.post("/api/v1/users", headers=bearer(ADMIN), json={"username": "x" * 5000})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "payload_too_large"
    container.close()


@pytest.mark.parametrize("route", ["json", "upload"])
def test_slow_bodies_time_out(api: tuple[FastAPI, ApiServices], route: str) -> None:
    app, _ = api
    if route == "json":
        headers = {**bearer(ADMIN), "content-type": JSON, "content-length": "100"}
        sent = call(app, "POST", "/api/v1/search", headers, [b'{"query": '], then="hang")
    else:
        head, _, content_type = multipart(10)
        headers = {**bearer(ADMIN), "content-type": content_type, "content-length": "1000"}
        sent = call(app, "POST", "/api/v1/documents", headers, [head], then="hang")
    assert sent.status == 408, sent.body
    assert sent.json()["error"]["code"] == "request_timeout"
    assert sent.headers["connection"] == "close"


@pytest.mark.parametrize("route", ["json", "upload"])
def test_a_client_leaving_mid_body_is_not_an_error(
    api: tuple[FastAPI, ApiServices], logs: list[dict[str, Any]], route: str
) -> None:
    app, _ = api
    if route == "json":
        headers = {**bearer(ADMIN), "content-type": JSON, "content-length": "100000"}
        sent = call(app, "POST", "/v1/chat/completions", headers, [b'{"messages": ['], then="disconnect")
    else:
        head, _, content_type = multipart(10)
        headers = {**bearer(ADMIN), "content-type": content_type, "content-length": "5000000"}
        sent = call(app, "POST", "/api/v1/documents", headers, [head, b"a" * 65536], then="disconnect")
    assert sent.status is None or sent.status < 500  # nobody is listening; nothing was sent as an error
    assert [e for e in logs if e["log_level"] in ("error", "critical", "exception")] == []
    assert [e["event"] for e in logs] == ["client_disconnected"]
    assert "exc_info" not in logs[0]


SURROGATE = "\\udfff"  # as the JSON escape a client sends
TEXT_FIELDS: list[tuple[str, str, str]] = [
    ("POST", "/api/v1/search", '{"query": "hi %s there"}'),
    ("POST", "/api/v1/search", '{"query": "leave", "top_k": 5, "%s": 1}'),  # an object key
    ("POST", "/api/v1/chat", '{"message": "hi %s there"}'),
    ("POST", "/api/v1/chat", '{"message": "hi", "conversation_id": "%s"}'),
    ("POST", "/api/v1/chat", '{"message": "hi", "stream": true, "extra": ["%s"]}'),
    ("POST", "/v1/chat/completions", '{"messages": [{"role": "user", "content": "hi %s there"}]}'),
    (
        "POST",
        "/v1/chat/completions",
        '{"messages": [{"role": "user", "content": [{"type": "text", "text": "%s"}]}]}',
    ),
    ("POST", "/v1/chat/completions", '{"model": "%s", "messages": [{"role": "user", "content": "hi"}]}'),
    ("POST", "/v1/chat/completions", '{"user": "%s", "messages": [{"role": "user", "content": "hi"}]}'),
    (
        "POST",
        "/v1/chat/completions",
        '{"messages": [{"role": "system", "content": "%s"}, {"role": "user", "content": "hi"}]}',
    ),
    ("POST", "/api/v1/messages/1/feedback", '{"rating": 1, "comment": "%s"}'),
    ("POST", "/api/v1/users", '{"username": "%s"}'),
    ("POST", "/api/v1/users", '{"username": "jin", "email": "%s@example.com"}'),
    ("PUT", "/api/v1/users/hana/groups", '{"groups": ["%s"]}'),
    ("PUT", "/api/v1/documents/d/acl", '{"users": ["%s"]}'),
    ("POST", "/api/v1/auth/login", '{"username": "hana", "password": "pass %s word"}'),
]


@pytest.mark.parametrize(("method", "path", "template"), TEXT_FIELDS)
def test_lone_surrogates_in_any_text_field_are_a_400(
    api: tuple[FastAPI, ApiServices], method: str, path: str, template: str
) -> None:
    app, _ = api
    client = TestClient(app, raise_server_exceptions=False)
    for lone in (SURROGATE, "\\ud800", "\\ud83d x"):  # low half, high half, high half not followed by a low
        reply = client.request(
            method, path, content=template % lone, headers={**bearer(ADMIN), "content-type": JSON}
        )
        assert reply.status_code == 400, (template % lone, reply.text)
        assert reply.json()["error"]["code"] == "invalid_input"
        assert "Unicode" in reply.json()["error"]["message"]


def test_raw_surrogate_bytes_are_a_400_and_valid_pairs_pass(api: tuple[FastAPI, ApiServices]) -> None:
    app, _ = api
    client = TestClient(app, raise_server_exceptions=False)
    headers = {**bearer(ADMIN), "content-type": JSON}
    raw = client.post("/api/v1/search", content=b'{"query": "hi \xed\xbf\xbf there"}', headers=headers)
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "invalid_input"
    pair = client.post(  # an emoji written as an escaped surrogate pair is ordinary text
        "/api/v1/users",
        content='{"username": "jin", "email": "jin\\ud83d\\ude00@example.com"}',
        headers=headers,
    )
    assert pair.status_code == 201, pair.text
    escaped = client.post(  # a backslash followed by "udfff" is text, not an escape
        "/api/v1/messages/1/feedback", content='{"rating": 1, "comment": "\\\\udfff"}', headers=headers
    )
    assert escaped.status_code == 404, escaped.text


def integer_parameters(app: FastAPI) -> list[tuple[str, str, str, str]]:
    """(method, path template, parameter, where) for every integer path or query parameter."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "integer" in types:
                    found.append((method.upper(), path, parameter["name"], parameter["in"]))
    return found


def test_every_integer_parameter_is_bounded(api: tuple[FastAPI, ApiServices]) -> None:
    app, _ = api
    client = TestClient(app, raise_server_exceptions=False)
    parameters = integer_parameters(app)
    assert ("POST", "/api/v1/messages/{message_id}/feedback", "message_id", "path") in parameters
    for method, template, name, where in parameters:
        for value in (str(SQL_INT_MAX + 1), "99999999999999999999999", str(-(2**70)), "9" * 5000):
            path = template.replace("{" + name + "}", value) if where == "path" else template
            params = {name: value} if where == "query" else None
            path = path.replace("{", "").replace("}", "")
            reply = client.request(method, path, params=params, headers=bearer(ADMIN), json={"rating": 1})
            assert reply.status_code == 400, (method, path, value[:30], reply.text)
            assert reply.json()["error"]["code"] == "invalid_input"
    in_range = client.post(
        f"/api/v1/messages/{SQL_INT_MAX}/feedback", headers=bearer(ADMIN), json={"rating": 1}
    )
    assert in_range.status_code == 404  # the largest SQL integer is a valid id that names nothing


def test_the_credential_is_checked_once_per_request(
    api: tuple[FastAPI, ApiServices], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, container = api
    key = container.users.issue_key("hana")
    calls: list[str] = []
    original = container.users.authenticate_key

    def counting(credential: str) -> Any:
        calls.append(credential)
        return original(credential)

    monkeypatch.setattr(container.users, "authenticate_key", counting)
    client = TestClient(app)
    assert client.get("/api/v1/me", headers=bearer(key)).json()["username"] == "hana"
    assert (
        client.post("/api/v1/messages/5/feedback", headers=bearer(key), json={"rating": 1}).status_code == 404
    )
    assert len(calls) == 2


def test_a_surprise_is_one_plain_record_and_a_json_500(
    api: tuple[FastAPI, ApiServices], logs: list[dict[str, Any]]
) -> None:
    app, _ = api

    def explode() -> None:
        secret = {"authorization": f"Bearer {ADMIN}"}  # a local that must never be printed
        raise RuntimeError(f"unexpected, {len(secret)}")

    app.add_api_route("/boom", explode)
    reply = TestClient(app, raise_server_exceptions=False).get("/boom", headers=bearer(ADMIN))
    assert reply.status_code == 500
    assert reply.json() == {
        "error": {"code": "internal_error", "message": "an unexpected error occurred; it has been logged"}
    }
    assert reply.headers["x-content-type-options"] == "nosniff"
    [event] = logs
    assert event["event"] == "unhandled_error" and event["log_level"] == "error" and event["path"] == "/boom"
    assert isinstance(event["exc_info"], RuntimeError)
