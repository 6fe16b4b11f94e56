"""Request body limits enforced while the body streams in, before anything is parsed."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import PayloadTooLarge
from serving.api.errors import error_response


class BodySizeLimit:
    """Answers 413 for bodies above `max_bytes`, by declared length or by bytes received."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject early on Content-Length; count streamed bytes otherwise."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            response = error_response(413, PayloadTooLarge.code, self._message())
            await response(scope, receive, send)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max:
                    raise PayloadTooLarge(self._message())
            return message

        await self._app(scope, counting, send)

    def _message(self) -> str:
        return f"the request is larger than the limit of {self._max / 1e6:.0f} MB"
