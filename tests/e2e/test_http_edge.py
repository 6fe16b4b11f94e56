"""The HTTP server `sillok serve` runs (uvicorn with Sillok's protocol and options), over real
sockets: what it refuses is JSON, slow headers and bodies time out, a refused body is answered
before it is sent, and `X-Forwarded-For` counts only from configured proxies."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from core.settings import LimitSettings, ServerSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.api.http_server import uvicorn_options
from tests.e2e.helpers import free_port

pytestmark = pytest.mark.e2e
ADMIN = "http-edge-admin-token-0123456789abcdef"


@contextmanager
def live(tmp_path: Path, **settings: Any) -> Iterator[tuple[int, ApiServices]]:
    """The app on uvicorn in a thread, configured exactly as `sillok serve` configures it."""
    server_settings = ServerSettings(**settings.pop("server", {}))
    container = ApiServices(
        Settings(data_dir=tmp_path, bootstrap_admin_token=ADMIN, server=server_settings, **settings)
    )
    port = free_port()
    options = uvicorn_options(server_settings)
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield port, container
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        container.close()


def exchange(port: int, data: bytes, pause_after: bytes = b"", timeout: float = 5.0) -> tuple[bytes, float]:
    """Send `data` (then keep the connection open), return what came back and when it ended."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:

        def push() -> None:
            with contextlib.suppress(OSError):  # the server answered and closed while we were still sending
                sock.sendall(data)

        sender = threading.Thread(target=push, daemon=True)
        sender.start()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return received, time.monotonic() - started


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def test_oversized_headers_are_a_json_431(tmp_path: Path) -> None:
    with live(tmp_path) as (port, _):
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
        status, headers, body = parse(exchange(port, request)[0])
    assert status == 431 and headers["content-type"] == "application/json"
    assert body["error"]["code"] == "headers_too_large" and "32 KB" in body["error"]["message"]


def test_a_malformed_request_is_a_json_400(tmp_path: Path) -> None:
    with live(tmp_path) as (port, _):
        status, headers, body = parse(exchange(port, b"NOT HTTP AT ALL\r\n\r\n")[0])
    assert status == 400 and headers["content-type"] == "application/json"
    assert body == {"error": {"code": "invalid_request", "message": "the request is not valid HTTP/1.1"}}


def test_slow_headers_time_out(tmp_path: Path) -> None:
    with live(tmp_path, server={"header_timeout_s": 0.5}) as (port, _):
        partial, elapsed = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        status, _, body = parse(partial)
        assert status == 408 and body["error"]["code"] == "request_timeout" and elapsed < 3
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # dripping, one byte at a time
            started, answer = time.monotonic(), b""
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.05)
                sock.setblocking(False)
                try:
                    answer += sock.recv(4096)
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
                if answer:
                    break
            assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3
        silent, elapsed = exchange(port, b"")  # a connection that sends nothing is not kept either
        assert parse(silent)[0] == 408 and elapsed < 3
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200  # normal clients are fine


def test_a_refused_body_is_answered_before_it_is_sent(tmp_path: Path) -> None:
    with live(tmp_path) as (port, _):
        for path, content_type in (
            ("/api/v1/documents", "multipart/form-data; boundary=b"),
            ("/api/v1/search", "application/json"),
            ("/v1/chat/completions", "application/json"),
        ):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                "Content-Length: 30000000\r\n\r\n"
            ).encode()
            raw, elapsed = exchange(port, head + b"{" * 65536)
            status, headers, body = parse(raw)
            assert status in (401, 413) and body["error"]["code"] in ("unauthenticated", "payload_too_large")
            assert headers["connection"] == "close" and elapsed < 2, (path, elapsed)
        expecting = (  # a client that waits for "100 Continue" never has to send the body at all
            b"POST /api/v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Expect: 100-continue\r\nContent-Length: 30000000\r\n\r\n"
        )
        assert parse(exchange(port, expecting)[0])[0] == 401


def test_a_slow_body_times_out(tmp_path: Path) -> None:
    with live(tmp_path, server={"body_timeout_s": 0.5}) as (port, _):
        head = (
            f"POST /api/v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        ).encode()
        raw, elapsed = exchange(port, head + b'{"query": ')
    status, headers, body = parse(raw)
    assert status == 408 and body["error"]["code"] == "request_timeout" and elapsed < 3
    assert headers["connection"] == "close"


def failed_login_addresses(container: ApiServices) -> list[str]:
    return [e["detail"]["address"] for e in container.audit.events(action="login.failed")]


def failed_login(port: int, forwarded_for: str) -> int:
    reply = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        json={"username": "nobody", "password": "not the password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return reply.status_code


def test_forwarded_for_is_ignored_by_default(tmp_path: Path) -> None:
    assert uvicorn_options(ServerSettings())["proxy_headers"] is False
    with live(tmp_path, limits=LimitSettings(login_failures_per_ip=3)) as (port, container):
        assert failed_login(port, "203.0.113.7") == 401
        assert failed_login_addresses(container) == ["127.0.0.1"]
        statuses = [  # a new made-up address per attempt does not escape the per-address limit
            httpx.get(
                f"http://127.0.0.1:{port}/api/v1/me",
                headers={"Authorization": f"Bearer slk_wrong{i}", "X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(5)
        ]
    assert statuses == [401, 401, 429, 429, 429]  # the failed sign-in counted against 127.0.0.1 too


def test_forwarded_for_counts_only_from_configured_proxies(tmp_path: Path) -> None:
    with live(tmp_path / "a", server={"forwarded_allow_ips": ["127.0.0.1"]}) as (port, container):
        assert failed_login(port, "203.0.113.7") == 401
        assert failed_login_addresses(container) == ["203.0.113.7"]
    with live(tmp_path / "b", server={"forwarded_allow_ips": ["10.0.0.0/8"]}) as (port, container):
        assert failed_login(port, "203.0.113.7") == 401
        assert failed_login_addresses(container) == ["127.0.0.1"]  # this peer is not a listed proxy
    with pytest.raises(ValueError, match="trusted proxy"):
        ServerSettings(forwarded_allow_ips=["*"])
