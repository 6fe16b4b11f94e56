"""How `sillok serve` runs uvicorn: timeouts, header limits, trusted proxies and JSON refusals.

uvicorn's h11 protocol is used with two changes. What it refuses itself (a malformed request,
headers over the limit) is answered in the API's JSON error shape instead of plain text, with
431 for oversized headers. And the request line and headers must arrive within
`server.header_timeout_s` of the connection opening (or of the previous response), else the
client gets 408 and the connection is closed: uvicorn alone waits for slow headers forever.
A refused connection is closed gracefully (the rest of the request is read and dropped for a
moment), so the client sees the answer rather than a reset.

`X-Forwarded-For` and `X-Forwarded-Proto` are believed only from `server.forwarded_allow_ips`;
with none configured, uvicorn's proxy-header handling is off and the peer address is the client.
"""

from __future__ import annotations

import asyncio
import http
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.settings import ServerSettings

_LINGER_S = 2.0  # how long a refused connection's remaining input is drained before closing


def refusal(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying the JSON error body, closing the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "cache-control: no-store\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class JsonH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with JSON refusals and a deadline for the request head."""

    header_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does (dropping input once refused), then re-arm the head deadline."""
        if self._refused:
            return
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        """The next request's head is due within the deadline too."""
        super().on_response_complete()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """What h11 cannot parse: 431 for headers over the limit, else 400, both as JSON."""
        max_head = self.config.h11_max_incomplete_event_size or 16 * 1024  # h11's default
        if len(self.conn.trailing_data[0]) > max_head:
            message = f"the request headers are larger than the limit of {max_head // 1024} KB"
            self._refuse(431, "headers_too_large", message)
        else:
            self._refuse(400, "invalid_request", "the request is not valid HTTP/1.1")

    def _watch_head(self) -> None:
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)
        elif not waiting:
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing() and not self._refused:
            self._refuse(408, "request_timeout", "the request headers were not received in time")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refused = True
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        self.transport.write(refusal(status, code, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is complete; what the client still sends is dropped
        self.flow.resume_reading()
        self.loop.call_later(_LINGER_S, self.transport.close)


def protocol_class(server: ServerSettings) -> type[JsonH11Protocol]:
    """The protocol class with this server's header deadline."""
    return type("SillokHttp", (JsonH11Protocol,), {"header_timeout_s": server.header_timeout_s})


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` besides the app, host and port."""
    proxies = list(server.forwarded_allow_ips)
    return {
        "http": protocol_class(server),
        "log_config": None,  # records go to the root logger: masked, written off the event loop
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "timeout_keep_alive": server.keep_alive_s,
        "h11_max_incomplete_event_size": server.max_header_kb * 1024,
    }
