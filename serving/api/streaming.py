"""Server-Sent Events from a sync iterator of parts, closed as soon as the client goes away.

Starlette's `StreamingResponse` runs a sync iterator with `iterate_in_threadpool` and, when the
client disconnects, only stops awaiting it: the generator stays suspended until a later garbage
collection closes it, on whatever thread that runs. An answer stream would keep its generation
slot and the language model would keep generating. `sse_stream` runs the parts iterator on a
thread of its own that hands each part to the event loop as it comes (no thread-pool round trip
per piece; parts that arrive together go out in one write) and, however the response ends
(finished, failed, client gone), stops pulling and closes the iterator on that thread; closing
an LLM stream closes its HTTP response, so the model server stops. A pull already waiting on
the model finishes first (one piece, or the first-token deadline before the first piece).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from typing import Generic, TypeVar

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Send

from core.errors import SillokError

T = TypeVar("T")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _close(parts: Iterator[object]) -> None:
    close = getattr(parts, "close", None)
    if callable(close):
        close()


class _Pump(Generic[T]):
    """Pulls `parts` on its own thread and queues each one, or what ended them, for the loop."""

    def __init__(self, parts: Iterator[T], loop: asyncio.AbstractEventLoop) -> None:
        self._parts = parts
        self._loop = loop
        self.queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self.done: asyncio.Future[None] = loop.create_future()
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="sse-stream", daemon=True).start()

    def stop(self) -> None:
        """Pull nothing more; the iterator is closed once a pull in flight returns."""
        self._stop.set()

    def _run(self) -> None:
        try:
            for part in self._parts:
                self._hand("part", part)
                if self._stop.is_set():
                    break
            else:
                self._hand("end", None)
        except BaseException as exc:  # handed over, raised again by the response
            self._hand("raised", exc)
        finally:
            _close(self._parts)
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                self._loop.call_soon_threadsafe(self._finished)

    def _hand(self, kind: str, item: object) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self.queue.put_nowait, (kind, item))

    def _finished(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


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
        pump = _Pump(parts, asyncio.get_running_loop())
        try:
            finished = False
            while not finished:
                events: list[str] = []
                kind, item = await pump.queue.get()
                while True:  # everything that has arrived goes out in one write
                    if kind == "part":
                        events.append(render(item))  # type: ignore[arg-type]
                    elif kind == "raised" and isinstance(item, SillokError):
                        events.append(on_error(item))
                        finished = True
                    elif kind == "raised":
                        raise item  # type: ignore[misc]
                    else:
                        finished = True
                    if finished or pump.queue.empty():
                        break
                    kind, item = pump.queue.get_nowait()
                if finished and end:
                    events.append(end)
                if events:
                    yield "".join(events)
        finally:
            pump.stop()
            with anyio.CancelScope(shield=True):
                await pump.done

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
