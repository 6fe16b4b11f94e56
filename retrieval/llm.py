"""`LLMClient` for any OpenAI-compatible chat server: vLLM in production; llama.cpp's servers too.

Every generation holds one admission slot (`retrieval.admission`) and runs under four limits:
the connection (`connect_timeout_s`), the first piece of text (`first_token_timeout_s`), the
silence between pieces (`idle_timeout_s`) and the whole answer (`timeout_s`); each ends in a
`DependencyUnavailable` that says which. Closing the stream closes the HTTP response at once,
so the server stops generating. The server's own refusals keep their meaning: a prompt over
its context window is `ContextTooLong`, a 429 (or a 503 with `Retry-After`) is `Overloaded`
with the server's `Retry-After`. No tools are ever offered to the model.

A stream that ends before its first event (llama-cpp-python's answer to a prompt over its window:
200, an empty event stream, a dropped connection) is asked once more, not streamed and for one
token, so that the server says why. A connection that did not end cleanly never goes back to the
pool, and a request whose connection is dropped before any byte of the answer is sent once more
(nothing was generated for it).

The context window comes from `GET /v1/models` (vLLM's `max_model_len`) or, once a refusal has
named it, from the server's own words; tokens are counted by the server's tokenizer where it has
one (vLLM's `POST /tokenize`, llama-cpp-python's `POST /extras/tokenize/count`, llama.cpp's
`POST /tokenize`), found once and remembered; otherwise `estimate_tokens` over-counts on purpose.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx2
import openai
import structlog
from opentelemetry.trace import StatusCode
from prometheus_client import Counter, Histogram

from core.errors import ContextTooLong, DependencyUnavailable, Overloaded, SillokError
from core.settings import LLMSettings
from core.telemetry import tracer
from retrieval.admission import Admission
from retrieval.deadlines import WATCHDOG
from retrieval.tokens import estimate_tokens

LLM_SECONDS = Histogram(
    "sillok_llm_seconds",
    "Generation time: to the first token, and in total",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
LLM_PIECES = Counter(
    "sillok_llm_completion_tokens_total", "Streamed completion pieces (one token each on vLLM and llama.cpp)"
)
LLM_STREAMS = Counter("sillok_llm_streams_total", "Generations by outcome", ["outcome"])
_KNOWN_OUTCOMES = {"ok", "Overloaded", "DependencyUnavailable", "ContextTooLong", "GeneratorExit"}

log = structlog.get_logger(__name__)
T = TypeVar("T")

AUX_TIMEOUT_S = 5.0  # model list and tokenizer requests
REPROBE_AFTER_S = 30.0  # after a server could not be reached for them, estimate until then
MAX_RETRY_AFTER_S = 3600
_CONTEXT_ERROR = re.compile(
    r"context length|context window|context_length_exceeded|maximum model length|prompt is too long"
    r"|available context size",
    re.IGNORECASE,
)
_WINDOW_IN_MESSAGE = re.compile(
    r"(?:context length is|context window of|model length of)\s*(\d+)", re.IGNORECASE
)
_WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "n_ctx")


def retry_after_s(value: str | None) -> int | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date), 1..3600; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(1, min(MAX_RETRY_AFTER_S, math.ceil(seconds)))


@dataclass(frozen=True)
class TokenizeRoute:
    """One server's tokenizer endpoint: where it is, what it takes and what it answers."""

    name: str
    path: str
    field: str
    extra: tuple[tuple[str, Any], ...] = ()

    def body(self, model: str, text: str) -> dict[str, Any]:
        """The request body counting `text`."""
        return {"model": model, self.field: text, **dict(self.extra)}

    def count(self, payload: object) -> int | None:
        """The token count in a response, or None when it is not this server's answer."""
        if not isinstance(payload, dict):
            return None
        if self.field != "content":
            count = payload.get("count")
            return count if isinstance(count, int) and count >= 0 else None
        tokens = payload.get("tokens")
        return len(tokens) if isinstance(tokens, list) else None


TOKENIZE_ROUTES = (
    TokenizeRoute("vllm", "/tokenize", "prompt", (("add_special_tokens", False),)),
    TokenizeRoute("llama-cpp-python", "/extras/tokenize/count", "input"),
    TokenizeRoute("llama.cpp", "/tokenize", "content"),
)


def _socket_of(response: httpx2.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _discard(response: httpx2.Response) -> None:
    """Keep `response`'s connection out of the pool: a shut-down socket reads as closed there."""
    sock = _socket_of(response)
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _dropped_unanswered(exc: Exception) -> bool:
    """Whether the connection broke before any byte of the response (a kept-alive connection
    the server had closed, or a server that dropped the request): sending it again is safe."""
    return (
        isinstance(exc, openai.APIConnectionError)
        and not isinstance(exc, openai.APITimeoutError)
        and isinstance(exc.__cause__, httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.WriteError)
    )


def _connection_broke(exc: Exception) -> bool:
    return isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError)


def _piece_of(chunk: object) -> tuple[str, object]:
    """The text and finish reason of one streamed chunk (empty for role or usage chunks)."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return "", None
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None)
    return (content if isinstance(content, str) else ""), getattr(choices[0], "finish_reason", None)


def _error_text(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(exc, openai.APIStatusError):
        try:
            return exc.response.text
        except httpx2.HTTPError:
            return exc.message
    return exc.message


def _seconds(value: float) -> str:
    return f"{value:g} s"


class OpenAICompatibleLLM:
    """Chat completions from `settings.base_url` with `settings.model`, as an `LLMClient`.

    `admission` is shared by every generation of this client (one per process by default);
    `http_client` replaces the connection pool (tests, proxies).
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        admission: Admission | None = None,
        http_client: httpx2.Client | None = None,
    ) -> None:
        if not settings.base_url or not settings.model:
            raise ValueError("an LLM needs llm.base_url and llm.model")
        base = settings.base_url.rstrip("/")
        self._root = base[: -len("/v1")] if base.endswith("/v1") else base
        parsed = urlparse(self._root)
        self._where = f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
        self._settings = settings
        self._model = settings.model
        overrides = settings.overrides()
        self._max_tokens = overrides.max_tokens or settings.max_tokens
        self._max_tokens_field = overrides.max_tokens_field or settings.max_tokens_field
        self._temperature = settings.temperature if overrides.temperature is None else overrides.temperature
        self._window_override = overrides.context_tokens
        self.admission = admission or Admission(settings.max_concurrent, settings.queue_timeout_s)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = http_client or httpx2.Client(
            limits=httpx2.Limits(max_connections=settings.max_concurrent + 16),
            timeout=httpx2.Timeout(AUX_TIMEOUT_S, connect=settings.connect_timeout_s),
        )
        self._client = openai.OpenAI(
            base_url=f"{self._root}/v1", api_key=key or "not-needed", max_retries=0, http_client=self._http
        )
        self._lock = threading.Lock()
        self._window: int | None = None
        self._window_known = False
        self._refused_window: int | None = None  # named by a context-length refusal
        self._models_retry_at = 0.0
        self._tokenizer: TokenizeRoute | None = None
        self._tokenizer_known = False
        self._tokenize_retry_at = 0.0

    @property
    def model(self) -> str:
        """The served model's name."""
        return self._model

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    # Generation

    def check_capacity(self) -> None:
        """Return when a generation slot is free, else raise `Overloaded` after the queue wait."""
        self.admission.check()

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        """The full reply, within the total timeout."""
        s = self._settings
        timeout = httpx2.Timeout(s.timeout_s, connect=s.connect_timeout_s, pool=s.connect_timeout_s)
        with tracer.start_as_current_span("llm.complete", attributes={"gen_ai.request.model": self._model}):
            response = self._complete(messages, max_tokens, timeout)
        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            raise DependencyUnavailable("the language model's reply held no text")
        return content

    def _complete(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None, timeout: httpx2.Timeout
    ) -> object:
        with self.admission.acquire():
            try:
                return self._resent_once_if_dropped(
                    lambda: self._client.chat.completions.create(
                        model=self._model,
                        messages=list(messages),  # type: ignore[arg-type]
                        temperature=self._temperature,
                        stream=False,
                        timeout=timeout,
                        extra_body=self._length(max_tokens),
                    )
                )
            except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
                raise self._failure(exc, self._finish_late()) from exc

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> Generator[str, None, None]:
        """The reply piece by piece as the server generates it; the slot is taken on the first
        `next` (so an unstarted stream holds nothing) and freed however the stream ends."""
        return self._stream(list(messages), self._length(max_tokens))

    def _length(self, max_tokens: int | None) -> dict[str, int]:
        limit = max_tokens or self._max_tokens
        fields = {"both": ("max_tokens", "max_completion_tokens")}.get(
            self._max_tokens_field, (self._max_tokens_field,)
        )
        return {field: limit for field in fields}

    def _stream(self, messages: list[dict[str, str]], length: dict[str, int]) -> Generator[str, None, None]:
        # Not the current span: a generator's context would be detached in another context.
        span = tracer.start_span("llm.stream", attributes={"gen_ai.request.model": self._model})
        pieces, outcome, started = 0, "ok", time.perf_counter()
        try:
            with self.admission.acquire():
                for piece in self._generate(messages, length):
                    if not pieces:
                        span.add_event("first_token")
                        LLM_SECONDS.labels("first_token").observe(time.perf_counter() - started)
                    pieces += 1
                    yield piece
        except Exception as exc:
            outcome = type(exc).__name__
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, outcome)
            raise
        finally:
            span.set_attribute("sillok.pieces", pieces)
            span.end()
            LLM_SECONDS.labels("total").observe(time.perf_counter() - started)
            LLM_PIECES.inc(pieces)
            LLM_STREAMS.labels(outcome if outcome in _KNOWN_OUTCOMES else "other").inc()

    def _generate(self, messages: list[dict[str, str]], length: dict[str, int]) -> Iterator[str]:
        s = self._settings
        started = time.monotonic()
        total_at = started + s.timeout_s
        first_at = min(total_at, started + s.first_token_timeout_s)
        first_late = self._first_late() if first_at < total_at else self._finish_late()
        # The socket timeout bounds the wait for the response headers (vLLM and llama-cpp-python
        # send them at once, before the prompt is processed) and every read; the watchdog
        # enforces the deadlines.
        read_s = min(s.first_token_timeout_s, s.timeout_s)
        timeout = httpx2.Timeout(
            read_s, connect=s.connect_timeout_s, write=s.timeout_s, pool=s.connect_timeout_s
        )
        try:
            upstream = self._resent_once_if_dropped(
                lambda: self._client.chat.completions.create(
                    model=self._model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=self._temperature,
                    stream=True,
                    timeout=timeout,
                    extra_body=length,
                )
            )
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            raise self._failure(exc, first_late) from exc
        assert isinstance(upstream, openai.Stream)
        watch = WATCHDOG.watch(_socket_of(upstream.response))
        events = 0
        finished = False
        late = first_late
        try:
            watch.arm(first_at, first_late)
            for chunk in upstream:
                events += 1
                piece, finish = _piece_of(chunk)
                finished = finished or finish is not None
                if not piece:
                    continue
                watch.disarm()
                if watch.expired:
                    break
                yield piece
                now = time.monotonic()
                idle_at = now + s.idle_timeout_s
                late = self._stall() if idle_at < total_at else self._finish_late()
                if now >= total_at:
                    raise DependencyUnavailable(self._finish_late())
                watch.arm(min(idle_at, total_at), late)
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            if events or watch.expired or not _connection_broke(exc):
                raise self._failure(exc, late, expired=watch.expired) from exc
        finally:
            watch.close()
            if not finished:  # the server may drop this connection next, or already has
                _discard(upstream.response)
            upstream.close()
        if watch.expired:
            raise DependencyUnavailable(watch.expired)
        if not finished:
            if not events:
                self._explain_empty_stream(messages, first_at)
            raise DependencyUnavailable("the language model's answer broke off before it was complete")

    def _resent_once_if_dropped(self, send: Callable[[], T]) -> T:
        """`send()`, and once more if its connection broke before any byte of the response."""
        try:
            return send()
        except openai.APIConnectionError as exc:
            if not _dropped_unanswered(exc):
                raise
            log.info("llm_request_resent", server=self._where, reason=type(exc.__cause__).__name__)
        return send()

    def _explain_empty_stream(self, messages: list[dict[str, str]], deadline: float) -> None:
        """Raise the server's refusal of `messages` asked once more, not streamed and for one
        token, after their stream ended before its first event; return when it accepts them or
        cannot say before `deadline`. A prompt over the window is refused at once."""
        s = self._settings
        wait = deadline - time.monotonic()
        if wait <= 0:
            return
        timeout = httpx2.Timeout(
            wait, connect=min(wait, s.connect_timeout_s), pool=min(wait, s.connect_timeout_s)
        )
        try:
            self._resent_once_if_dropped(
                lambda: self._client.chat.completions.create(
                    model=self._model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=self._temperature,
                    stream=False,
                    timeout=timeout,
                    extra_body=self._length(1),
                )
            )
        except openai.APIStatusError as exc:
            raise self._failure(exc, self._first_late()) from exc
        except (openai.OpenAIError, httpx2.HTTPError, ValueError):
            pass
        log.warning("llm_empty_stream", server=self._where)

    # Errors

    def _first_late(self) -> str:
        limit = _seconds(self._settings.first_token_timeout_s)
        return f"the language model did not start answering within {limit}"

    def _stall(self) -> str:
        return f"the language model stopped answering for {_seconds(self._settings.idle_timeout_s)}"

    def _finish_late(self) -> str:
        return f"the language model did not finish answering within {_seconds(self._settings.timeout_s)}"

    def _failure(self, exc: Exception, late: str, expired: str | None = None) -> SillokError:
        """The Sillok error for what went wrong talking to the server; `late` names a timeout."""
        if expired:
            return DependencyUnavailable(expired)
        if isinstance(exc, openai.APIStatusError):
            return self._refusal(exc.status_code, exc.response.headers, _error_text(exc))
        if isinstance(exc, openai.APITimeoutError):
            if isinstance(exc.__cause__, httpx2.ConnectTimeout | httpx2.PoolTimeout):
                return DependencyUnavailable(
                    f"could not connect to the language model at {self._where} within "
                    f"{_seconds(self._settings.connect_timeout_s)}"
                )
            return DependencyUnavailable(late)
        if isinstance(exc, openai.APIConnectionError):
            if isinstance(exc.__cause__, httpx2.ConnectError):
                return DependencyUnavailable(f"could not connect to the language model at {self._where}")
            return DependencyUnavailable("the connection to the language model broke off")
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            text = _error_text(exc)
            if _CONTEXT_ERROR.search(text):
                return self._too_long(text)
            log.warning("llm_stream_error", server=self._where, message=text[:500])
            return DependencyUnavailable("the language model reported an error while answering")
        if isinstance(exc, ValueError):
            return DependencyUnavailable("the language model sent a malformed stream")
        return DependencyUnavailable(f"the language model did not answer: {type(exc).__name__}")

    def _refusal(self, status: int, headers: Mapping[str, str], text: str) -> SillokError:
        if status in (400, 413, 422) and _CONTEXT_ERROR.search(text):
            return self._too_long(text)
        retry = retry_after_s(headers.get("retry-after"))
        if status == 429 or (status == 503 and retry is not None):
            wait = retry or 1
            return Overloaded(f"the language model is busy; try again in {wait} s", retry_after=wait)
        log.warning("llm_refused", server=self._where, status=status, message=text[:500])
        if status in (401, 403):
            return DependencyUnavailable(f"the language model refused Sillok's API key (HTTP {status})")
        if status == 404:
            return DependencyUnavailable(
                f"the language model server does not serve {self._model!r} (HTTP 404)"
            )
        return DependencyUnavailable(f"the language model answered HTTP {status}")

    def _too_long(self, text: str) -> ContextTooLong:
        window = _WINDOW_IN_MESSAGE.search(text)
        if window and int(window.group(1)) > 0:
            with self._lock:
                self._refused_window = int(window.group(1))
        size = f" of {window.group(1)} tokens" if window else ""
        return ContextTooLong(
            f"the question and its sources do not fit the language model's context window{size}"
        )

    # Model information

    def context_tokens(self) -> int:
        """The context window: the smallest of the per-model setting, what `/v1/models` reports
        and what the server's last context-length refusal named, whichever exist, else
        `llm.context_tokens`. The server is asked until it answers once; a server it cannot
        reach is asked again after `REPROBE_AFTER_S`."""
        known = [w for w in (self._window_override, self._served_window(), self._refused_window) if w]
        return min(known) if known else self._settings.context_tokens

    def _served_window(self) -> int | None:
        with self._lock:
            if self._window_known or time.monotonic() < self._models_retry_at:
                return self._window
        try:
            response = self._http.get(f"{self._root}/v1/models", headers=self._headers, timeout=AUX_TIMEOUT_S)
            payload = response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError):
            response, payload = None, None
        with self._lock:
            if response is None or response.status_code >= 500 or response.status_code == 429:
                self._models_retry_at = time.monotonic() + REPROBE_AFTER_S
                return None
            self._window, self._window_known = self._window_of(payload), True
            return self._window

    def _window_of(self, payload: object) -> int | None:
        entries = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            return None
        mine = [e for e in entries if isinstance(e, dict) and e.get("id") == self._model]
        entry = (
            mine[0] if mine else entries[0] if len(entries) == 1 and isinstance(entries[0], dict) else None
        )
        if entry is None:
            return None
        meta = entry.get("meta")
        for value in [entry.get(k) for k in _WINDOW_KEYS] + [
            meta.get("n_ctx") if isinstance(meta, dict) else None
        ]:
            if isinstance(value, int) and value > 0:
                return value
        return None

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the server's tokenizer; `estimate_tokens` when it has none or
        cannot be reached (asked again after `REPROBE_AFTER_S`). One HTTP request per call."""
        if not text:
            return 0
        with self._lock:
            route, known = self._tokenizer, self._tokenizer_known
            waiting = time.monotonic() < self._tokenize_retry_at
        if (known and route is None) or waiting:
            return estimate_tokens(text)
        definitive = True
        for candidate in (route,) if route else TOKENIZE_ROUTES:
            try:
                response = self._http.post(
                    self._root + candidate.path,
                    json=candidate.body(self._model, text),
                    headers=self._headers,
                    timeout=AUX_TIMEOUT_S,
                )
                count = candidate.count(response.json()) if response.status_code == 200 else None
            except ValueError:
                count = None
            except httpx2.HTTPError:
                definitive, count = False, None
                break
            if count is not None:
                with self._lock:
                    self._tokenizer, self._tokenizer_known = candidate, True
                return count
            if response.status_code >= 500 or response.status_code == 429:
                definitive = False
        with self._lock:
            if not definitive:
                self._tokenize_retry_at = time.monotonic() + REPROBE_AFTER_S
            elif route is None:
                self._tokenizer_known = True
                log.info("llm_tokenizer_absent", server=self._where)
        return estimate_tokens(text)
