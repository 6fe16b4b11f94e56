"""A scripted OpenAI-compatible server on localhost that behaves exactly as a test tells it to.

It speaks chat completions (streamed and not), `GET /v1/models` and the tokenizer routes of
vLLM (`POST /tokenize` with `prompt`), llama-cpp-python (`POST /extras/tokenize/count`) and
llama.cpp (`POST /tokenize` with `content`). A `Behaviour` scripts each completion: a normal
stream, a slow first token (before or after the response headers), a stall, a refusal with a
status and `Retry-After`, a context overflow worded as vLLM words it, a malformed or broken-off
stream, an empty stream on a dropped connection (llama-cpp-python's answer to a prompt over its
window), or a fixed first-token latency for benchmarks with many concurrent streams. It records
every request body and notices at once when a client goes away before the end:

    with scripted_openai(Behaviour(first_token_delay_s=2)) as server:
        llm = OpenAICompatibleLLM(LLMSettings(base_url=server.url, model=server.model))
        ...
        assert server.wait_cancelled(1, timeout=1)

Its tokenizer counts whitespace-separated words, so a test can tell it from an estimate.

`dropping_relay(server)` puts a TCP relay in front of it that closes connections unanswered on
request (a kept-alive connection the server closed, a server that died) and counts connections.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import anyio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.e2e.helpers import free_port

REPLY = "Annual leave is 15 days [1]."
MODEL = "scripted"
Tokenizer = Literal["vllm", "llama-cpp-python", "llama.cpp", "none"]


def vllm_context_message(window: int, requested: int, completion: int = 512) -> str:
    """vLLM's words for a prompt that does not fit."""
    return (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{requested} tokens ({requested - completion} in the messages, {completion} in the completion). "
        "Please reduce the length of the messages or completion."
    )


@dataclass(frozen=True)
class Behaviour:
    """What the server does with every chat completion (counts are pieces sent before it)."""

    reply: str = REPLY  # streamed word by word (each word with its trailing space)
    hold_headers_s: float = 0.0  # silence before the response headers (llama-cpp-python's way)
    first_token_delay_s: float = 0.0  # after the headers and the role chunk, before the first piece
    piece_delay_s: float = 0.0  # between pieces
    stall_after: int | None = None  # go silent for `stall_s` after this many pieces
    stall_s: float = 60.0
    status: int | None = None  # refuse every completion with this HTTP status ...
    retry_after: str | None = None  # ... and this Retry-After header
    error_message: str = "the server is busy"
    error_object: bool = False  # vLLM's flat {"object": "error", "message"} body instead of {"error": {...}}
    malformed_after: int | None = None  # a `data:` line that is not JSON
    break_off_after: int | None = None  # end the body without a finish reason or [DONE]
    stream_error_after: int | None = None  # an {"error": ...} event, then the end
    empty_stream: bool = False  # 200 and the headers, no event at all, then the connection dropped
    plain_status: int | None = None  # refuse only the completions not streamed (with `error_message`)
    model_id: str = MODEL  # the name /v1/models lists
    context_window: int | None = 4096  # reported as `max_model_len`; None: not reported
    tokenizer: Tokenizer = "vllm"

    @classmethod
    def overloaded(cls, status: int = 429, retry_after: str | None = "7") -> Behaviour:
        """Every completion refused as busy."""
        return cls(status=status, retry_after=retry_after)

    @classmethod
    def context_overflow(cls, window: int = 4096, requested: int = 5000) -> Behaviour:
        """Every completion refused with vLLM's 400 for a prompt over the context window."""
        return cls(status=400, error_message=vllm_context_message(window, requested), error_object=True)

    def pieces(self) -> list[str]:
        """The reply as it is streamed."""
        return re.findall(r"\S+\s*", self.reply)


@dataclass
class Exchange:
    """One chat completion as the server saw it (monotonic times)."""

    body: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    first_piece_at: float | None = None
    pieces_sent: int = 0
    finished_at: float | None = None
    cancelled_at: float | None = None


def _chunk(model: str, delta: dict[str, str], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


class _Played(Exception):
    """The client went away; the script stops."""


class _DropConnection(Exception):
    """Raised after a response so that uvicorn drops the connection (as a failing app does)."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging the deliberate `_DropConnection` as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _DropConnection))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class ScriptedStream(Response):
    """A streamed completion played by its behaviour, watching for the client to leave."""

    def __init__(self, exchange: Exchange, behaviour: Behaviour, done: threading.Condition) -> None:
        super().__init__()
        self._exchange = exchange
        self._behaviour = behaviour
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = anyio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async with anyio.create_task_group() as group:
            group.start_soon(listen)
            try:
                await self._play(send, gone)
                self._exchange.finished_at = time.monotonic()
            except (_Played, OSError):
                self._exchange.cancelled_at = time.monotonic()
            finally:
                group.cancel_scope.cancel()
                with self._done:
                    self._done.notify_all()
        if self._behaviour.empty_stream:
            raise _DropConnection

    async def _play(self, send: Send, gone: anyio.Event) -> None:
        b, exchange = self._behaviour, self._exchange
        model = str(exchange.body.get("model", MODEL))

        async def pause(seconds: float) -> None:
            if seconds > 0:
                with anyio.move_on_after(seconds):
                    await gone.wait()
            if gone.is_set():
                raise _Played

        async def body(data: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": more})
            if gone.is_set():
                raise _Played

        await pause(b.hold_headers_s)
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if b.empty_stream:
            await body(b"", more=False)
            return
        await body(_chunk(model, {"role": "assistant", "content": ""}))
        await pause(b.first_token_delay_s)
        for n, piece in enumerate(b.pieces()):
            if n:
                await pause(b.piece_delay_s)
            if b.stall_after == n:
                await pause(b.stall_s)
            if b.malformed_after == n:
                await body(b"data: {this is not json\n\n")
            if b.break_off_after == n:
                await body(b"", more=False)
                return
            if b.stream_error_after == n:
                error = {"error": {"message": b.error_message, "type": "InternalServerError", "code": 500}}
                await body(f"data: {json.dumps(error)}\n\n".encode())
                await body(b"", more=False)
                return
            await body(_chunk(model, {"content": piece}))
            exchange.pieces_sent += 1
            exchange.first_piece_at = exchange.first_piece_at or time.monotonic()
        await body(_chunk(model, {}, "stop"))
        await body(b"data: [DONE]\n\n")
        await body(b"", more=False)


class ScriptedOpenAI:
    """The running server: its URL, the behaviour in force, and what it saw."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.exchanges: list[Exchange] = []
        self.tokenize_calls: list[tuple[str, dict[str, Any]]] = []
        self.models_calls = 0
        self.url = ""
        self._done = threading.Condition()

    @property
    def model(self) -> str:
        """The model name it serves."""
        return self.behaviour.model_id

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat completion request body, in order of arrival."""
        return [e.body for e in self.exchanges]

    @property
    def cancelled(self) -> int:
        """Streams whose client went away before the end."""
        return sum(1 for e in self.exchanges if e.cancelled_at is not None)

    def wait_cancelled(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Whether `count` streams have been cancelled by their clients within `timeout`."""
        with self._done:
            return self._done.wait_for(lambda: self.cancelled >= count, timeout)

    def reset(self, behaviour: Behaviour | None = None, **changes: Any) -> None:
        """Forget what was seen; play `behaviour` (or the current one with `changes`) from now on."""
        self.exchanges.clear()
        self.tokenize_calls.clear()
        self.models_calls = 0
        self.behaviour = replace(behaviour or Behaviour(), **changes)

    def app(self) -> FastAPI:
        """The ASGI app playing this server's behaviour."""
        app = FastAPI()

        @app.post("/v1/chat/completions", response_model=None)
        async def completions(request: Request) -> Response:
            b = self.behaviour
            exchange = Exchange(await request.json())
            self.exchanges.append(exchange)
            status = b.status if exchange.body.get("stream") else b.plain_status or b.status
            if status is not None:
                headers = {"Retry-After": b.retry_after} if b.retry_after else {}
                error = {
                    "message": b.error_message,
                    "type": "BadRequestError",
                    "param": None,
                    "code": status,
                }
                content = {"object": "error", **error} if b.error_object else {"error": error}
                return JSONResponse(content, status_code=status, headers=headers)
            if exchange.body.get("stream"):
                return ScriptedStream(exchange, b, self._done)
            await anyio.sleep(b.hold_headers_s + b.first_token_delay_s)
            exchange.finished_at = time.monotonic()
            message = {"role": "assistant", "content": b.reply}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            model = exchange.body.get("model", MODEL)
            return JSONResponse(
                {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [choice],
                }
            )

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            self.models_calls += 1
            card: dict[str, Any] = {"id": self.model, "object": "model", "created": 0, "owned_by": "scripted"}
            if self.behaviour.context_window is not None:
                card["max_model_len"] = self.behaviour.context_window
            return {"object": "list", "data": [card]}

        def count(path: str, body: dict[str, Any], key: str) -> int | None:
            self.tokenize_calls.append((path, body))
            text = body.get(key)
            return len(text.split()) if isinstance(text, str) else None

        @app.post("/tokenize", response_model=None)
        async def tokenize(request: Request) -> dict[str, Any] | JSONResponse:
            body = await request.json()
            style = self.behaviour.tokenizer
            n = count("/tokenize", body, "prompt" if style == "vllm" else "content")
            if style == "vllm" and n is not None:
                return {"count": n, "max_model_len": self.behaviour.context_window, "tokens": list(range(n))}
            if style == "llama.cpp":
                return {"tokens": list(range(n or 0))}
            return JSONResponse({"detail": "Not Found"}, status_code=404)

        @app.post("/extras/tokenize/count", response_model=None)
        async def tokenize_count(request: Request) -> dict[str, Any] | JSONResponse:
            n = count("/extras/tokenize/count", await request.json(), "input")
            if self.behaviour.tokenizer == "llama-cpp-python" and n is not None:
                return {"count": n}
            return JSONResponse({"detail": "Not Found"}, status_code=404)

        return app


@contextmanager
def scripted_openai(behaviour: Behaviour | None = None, **changes: Any) -> Iterator[ScriptedOpenAI]:
    """Run a scripted server in a thread for the `with` block; yields it (URL in `.url`)."""
    server = ScriptedOpenAI(replace(behaviour or Behaviour(), **changes))
    port = free_port()
    config = uvicorn.Config(
        server.app(), host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="scripted-openai", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if not runner.started:
        raise RuntimeError("the scripted OpenAI-compatible server did not start")
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


class DroppingRelay:
    """A TCP relay on localhost to a server's port; `url` is its address. While `drop` is
    above 0, a connection on which a request arrives is closed unanswered (and `drop` counted
    down into `dropped`); `connections` counts the connections clients opened."""

    def __init__(self, target_port: int) -> None:
        self.drop = 0
        self.dropped = 0
        self.connections = 0
        self._target_port = target_port
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="dropping-relay", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._listener.close()
        with self._lock:
            for sock in self._open:
                _cut(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                self.connections += 1
                self._open.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client:
                    with self._lock:
                        dropping = self.drop > 0
                        if dropping:
                            self.drop -= 1
                            self.dropped += 1
                    if dropping:
                        break
                target.sendall(data)
        except OSError:
            pass
        _cut(source)
        _cut(target)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def dropping_relay(server: ScriptedOpenAI) -> Iterator[DroppingRelay]:
    """A `DroppingRelay` in front of `server` for the `with` block."""
    relay = DroppingRelay(int(server.url.rsplit(":", 1)[1]))
    try:
        yield relay
    finally:
        relay.close()
