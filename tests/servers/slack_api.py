"""A local server playing Slack's Web API for the bot tests: it answers the methods the bot
calls from its own workspace data and records every call, so a test asserts exactly what was
posted, updated or sent privately."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TEAM, BOT_USER = "T0SILLOK", "UBOT"


@dataclass
class Workspace:
    """The workspace as Slack knows it, and every call the bot made."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> users.info "user"
    channels: dict[str, list[str]] = field(default_factory=dict)  # id -> member ids
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # method -> failures still to give
    lock: threading.Lock = field(default_factory=threading.Lock)
    ts: int = 0

    def person(self, user_id: str, email: str | None, **extra: Any) -> None:
        self.users[user_id] = {"id": user_id, "team_id": TEAM, "profile": {"email": email}, **extra}

    def posts(self, *methods: str) -> list[tuple[str, dict[str, Any]]]:
        methods = methods or ("chat.postMessage", "chat.update", "chat.postEphemeral")
        with self.lock:
            return [(m, p) for m, p in self.calls if m in methods]

    def wait(self, count: int, *methods: str, timeout_s: float = 60.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.posts(*methods)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} posts, got {self.posts(*methods)}")

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((method, params))
            if self.fail.get(method):
                self.fail[method] -= 1
                return {"ok": False, "error": "internal_error"}
            self.ts += 1
            ts = f"1700000000.{self.ts:06d}"
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0SILLOK"}
        if method == "users.info":
            user = self.users.get(params["user"])
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.members":
            members = self.channels.get(params["channel"])
            if members is None:
                return {"ok": False, "error": "channel_not_found"}
            start, size = int(params.get("cursor") or 0), int(params.get("limit") or 100)
            page = members[start : start + size]
            more = str(start + size) if start + size < len(members) else ""
            return {"ok": True, "members": page, "response_metadata": {"next_cursor": more}}
        if method in ("chat.postMessage", "chat.update"):
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts") or ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        return {"ok": False, "error": "unknown_method"}


def _params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
    if handler.headers.get("Content-Type", "").startswith("application/json"):
        return dict(json.loads(body or "{}"))
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(body).items()}
    for key in ("blocks",):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


@contextmanager
def slack_api(workspace: Workspace) -> Iterator[str]:
    """Serve `workspace` on a free local port; yields the Web API base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            method = self.path.rsplit("/", 1)[-1]
            if self.headers.get("Authorization") != "Bearer xoxb-test-token":
                reply = {"ok": False, "error": "invalid_auth"}
            else:
                reply = workspace.answer(method, _params(self))
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()
