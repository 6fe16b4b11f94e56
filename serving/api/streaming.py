"""Server-Sent Events from a sync iterator of parts, closed as soon as the client goes away.

Starlette's `StreamingResponse` runs a sync iterator with `iterate_in_threadpool` and, when the
client disconnects, only stops awaiting it: the generator stays suspended until a later garbage
collection closes it, on whatever thread that runs. An answer stream would keep its generation
slot and the language model would keep generating. `sse_stream` pulls each part in the thread
pool and, however the response ends (finished, failed, client gone), closes the parts iterator
in the thread pool once no pull is in flight; closing an LLM stream closes its HTTP response,
so the model server stops. A pull already waiting on the model finishes first (one piece, or
the first-token deadline before the first piece).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from typing import TypeVar

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Send

from core.errors import SillokError

T = TypeVar("T")
_END = object()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _pull(parts: Iterator[T]) -> T | object:
    try:
        return next(parts)
    except StopIteration:
        return _END


def _close(parts: Iterator[object]) -> None:
    close = getattr(parts, "close", None)
    if callable(close):
        close()


class ClosingStreamingResponse(StreamingResponse):
    """A `StreamingResponse` that closes its async body however the response ends."""

    body_iterator: AsyncGenerator[str, None]

    async def stream_response(self, send: Send) -> None:
        """Stream the body; then close it, also when sending failed or was cancelled."""
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()


def sse_stream(
    parts: Iterator[T],
    render: Callable[[T], str],
    on_error: Callable[[SillokError], str],
    *,
    end: str = "",
    headers: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """An SSE response of `render(part)` for each part, in order.

    A `SillokError` raised by the parts ends the stream with `on_error(error)`; `end` (e.g.
    `"data: [DONE]\\n\\n"`) is sent last either way. `render` and `on_error` return whole
    events (`"event: ...\\ndata: ...\\n\\n"`). Any other exception propagates (and is logged by
    the error boundary). `parts` is closed in every case, at once when the client leaves.
    """

    async def body() -> AsyncGenerator[str, None]:
        try:
            while True:
                try:
                    part = await anyio.to_thread.run_sync(_pull, parts)
                except SillokError as exc:
                    yield on_error(exc)
                    break
                if part is _END:
                    break
                yield render(part)  # type: ignore[arg-type]
            if end:
                yield end
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, parts)

    return ClosingStreamingResponse(
        body(), media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})}
    )


def started(parts: Iterator[T]) -> Iterator[T]:
    """`parts` with its first part already pulled, so that an error before it (404, 429 with
    `Retry-After`, ...) becomes the HTTP response instead of an event; closing the result
    closes `parts`. Call it from a sync route (it blocks until the first part)."""
    try:
        first = next(parts)
    except StopIteration:
        return iter(())
    except BaseException:
        _close(parts)
        raise
    return _chained(first, parts)


def _chained(first: T, parts: Iterator[T]) -> Iterator[T]:
    try:
        yield first
        yield from parts
    finally:
        _close(parts)
