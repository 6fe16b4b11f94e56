"""Request body limits and deadlines, enforced while the body streams in, before anything is parsed.

A body larger than its limit is refused with 413 by its declared length before a byte is read,
or as soon as the bytes received pass the limit. A body that stalls (no new bytes within
`idle_s`) or that is not complete by its deadline is refused with 408.
"""

from __future__ import annotations

import time

import anyio
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from core.errors import PayloadTooLarge, SillokError


class RequestTimeout(SillokError):
    """The client did not send the request body in time."""

    code = "request_timeout"
    status = 408


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def carries_body(scope: Scope) -> bool:
    """Whether the request announces a body (a non-zero length, or chunked transfer)."""
    headers = Headers(scope=scope)
    length = declared_length(scope)
    return (length is not None and length > 0) or "transfer-encoding" in headers


class BodyLimit:
    """The receive channel of one request, with a size limit, an idle timeout and a deadline."""

    def __init__(self, receive: Receive, max_bytes: int, idle_s: float, total_s: float) -> None:
        self._receive = receive
        self.max_bytes = max_bytes
        self._idle_s = idle_s
        self._deadline = time.monotonic() + total_s
        self.received = 0
        self.complete = False
        self.disconnected = False

    def check_declared(self, scope: Scope) -> None:
        """PayloadTooLarge when the declared length is already over the limit."""
        length = declared_length(scope)
        if length is not None and length > self.max_bytes:
            raise PayloadTooLarge(self.message())

    async def receive(self) -> Message:
        """The next message; PayloadTooLarge past the limit, RequestTimeout when it stalls."""
        if self.complete or self.disconnected:
            return await self._receive()  # a disconnect listener after the body: no deadline
        wait = min(self._idle_s, self._deadline - time.monotonic())
        if wait <= 0:
            raise RequestTimeout("the request body was not received in time")
        with anyio.move_on_after(wait) as waiting:
            message = await self._receive()
        if waiting.cancelled_caught:
            raise RequestTimeout("the request body was not received in time")
        if message["type"] == "http.disconnect":
            self.disconnected = True
        elif message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise PayloadTooLarge(self.message())
            self.complete = not message.get("more_body", False)
        return message

    async def read_all(self) -> bytes | None:
        """The whole body, or None when the client disconnected first."""
        parts: list[bytes] = []
        while not self.complete:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return None
            parts.append(message.get("body", b""))
        return b"".join(parts)

    def message(self) -> str:
        """The 413 message."""
        if self.max_bytes >= 1_000_000:
            return f"the request is larger than the limit of {self.max_bytes / 1e6:.0f} MB"
        return f"the request is larger than the limit of {self.max_bytes // 1000} kB"
