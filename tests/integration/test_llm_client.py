"""The OpenAI-compatible client against a scripted OpenAI-compatible HTTP server on localhost:
the request it sends, its four time limits, admission slots, cancellation upstream (also through
the API's SSE helper), the server's refusals, its context window and its tokenizer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from core.errors import ContextTooLong, DependencyUnavailable, Overloaded, SillokError
from core.settings import LLMSettings, ModelOverrides
from retrieval.admission import Admission
from retrieval.llm import OpenAICompatibleLLM, retry_after_s
from retrieval.tokens import estimate_tokens
from serving.api.streaming import sse_stream, started
from serving.http_errors import install_error_handlers
from tests.e2e.helpers import free_port
from tests.servers.scripted_openai import (
    REPLY,
    Behaviour,
    ScriptedOpenAI,
    dropping_relay,
    scripted_openai,
)

pytestmark = pytest.mark.integration
MESSAGES = [{"role": "user", "content": "How much leave?"}]
PIECES = Behaviour().pieces()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedOpenAI]:
    with scripted_openai() as server:
        yield server


@pytest.fixture
def server(shared_server: ScriptedOpenAI) -> ScriptedOpenAI:
    shared_server.reset()
    return shared_server


def client(server: ScriptedOpenAI, **settings: Any) -> OpenAICompatibleLLM:
    """A client with small limits (tests override what they measure)."""
    defaults: dict[str, Any] = {
        "connect_timeout_s": 1.0,
        "first_token_timeout_s": 2.0,  # a loaded CI machine can take a second to answer
        "idle_timeout_s": 0.5,
        "timeout_s": 3.0,
    }
    return OpenAICompatibleLLM(
        LLMSettings(**{"base_url": server.url, "model": server.model, **defaults, **settings})
    )


def test_complete_and_stream_send_the_configured_request_without_tools(server: ScriptedOpenAI) -> None:
    llm = client(server, max_tokens=64, temperature=0)
    assert llm.complete(MESSAGES) == REPLY
    assert list(llm.stream(MESSAGES)) == PIECES
    plain, streamed = server.requests
    for sent in (plain, streamed):
        assert sent["model"] == "scripted" and sent["messages"] == MESSAGES
        assert sent["max_tokens"] == 64 and sent["temperature"] == 0
        assert "max_completion_tokens" not in sent and "tools" not in sent and "tool_choice" not in sent
    assert plain["stream"] is False and streamed["stream"] is True


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ("max_tokens", {"max_tokens"}),
        ("max_completion_tokens", {"max_completion_tokens"}),
        ("both", {"max_tokens", "max_completion_tokens"}),
    ],
)
def test_the_answer_length_goes_in_the_configured_field(
    server: ScriptedOpenAI, field: str, sent: set[str]
) -> None:
    llm = client(server, max_tokens=100, max_tokens_field=field)
    list(llm.stream(MESSAGES))
    list(llm.stream(MESSAGES, max_tokens=32))
    default, explicit = server.requests
    assert {k for k in default if "tokens" in k} == sent
    assert {default[k] for k in sent} == {100} and {explicit[k] for k in sent} == {32}


def test_per_model_settings_apply_to_the_served_model_only(server: ScriptedOpenAI) -> None:
    models = {
        "scripted": ModelOverrides(
            max_tokens=99, max_tokens_field="both", temperature=0.7, context_tokens=2048
        ),
        "another": ModelOverrides(max_tokens=17),
    }
    llm = client(server, models=models)
    list(llm.stream(MESSAGES))
    sent = server.requests[-1]
    assert sent["max_tokens"] == sent["max_completion_tokens"] == 99 and sent["temperature"] == 0.7
    assert llm.context_tokens() == 2048  # below the server's 4096


@pytest.mark.parametrize("where", ["after the headers", "before the headers"])
def test_a_slow_first_token_times_out_and_the_request_is_dropped(server: ScriptedOpenAI, where: str) -> None:
    if where == "after the headers":
        server.reset(first_token_delay_s=5)
    else:
        server.reset(hold_headers_s=5)
    llm = client(server, first_token_timeout_s=0.3)
    begun = time.monotonic()
    with pytest.raises(DependencyUnavailable, match=r"did not start answering within 0\.3 s"):
        list(llm.stream(MESSAGES))
    assert 0.25 < time.monotonic() - begun < 1.5
    assert server.wait_cancelled(1, timeout=1.0)  # the server was told at once
    assert llm.admission.in_use == 0


def test_a_stall_after_the_first_tokens_ends_the_stream(server: ScriptedOpenAI) -> None:
    server.reset(stall_after=2)
    llm = client(server, idle_timeout_s=0.3)
    received: list[str] = []
    begun = time.monotonic()
    with pytest.raises(DependencyUnavailable, match=r"stopped answering for 0\.3 s"):
        received.extend(llm.stream(MESSAGES))
    assert received == PIECES[:2]
    assert time.monotonic() - begun < 1.5
    assert server.wait_cancelled(1, timeout=1.0)


def test_a_steady_but_slow_answer_hits_the_total_timeout(server: ScriptedOpenAI) -> None:
    server.reset(piece_delay_s=0.2)
    llm = client(server, idle_timeout_s=0.5, timeout_s=0.7)
    received: list[str] = []
    begun = time.monotonic()
    with pytest.raises(DependencyUnavailable, match=r"did not finish answering within 0\.7 s"):
        received.extend(llm.stream(MESSAGES))
    assert 0.65 < time.monotonic() - begun < 1.5
    assert 2 <= len(received) < len(PIECES)


def test_a_slow_consumer_is_not_taken_for_a_stalled_server(server: ScriptedOpenAI) -> None:
    server.reset(reply="one two three")
    llm = client(server, idle_timeout_s=0.2, first_token_timeout_s=0.2)
    received = []
    for piece in llm.stream(MESSAGES):
        received.append(piece)
        time.sleep(0.3)  # longer than the idle limit, while the stream is not reading
    assert received == ["one ", "two ", "three"]


def test_an_unreachable_server_is_a_clear_error_at_once() -> None:
    port = free_port()
    llm = OpenAICompatibleLLM(
        LLMSettings(base_url=f"http://127.0.0.1:{port}", model="x", connect_timeout_s=1)
    )
    begun = time.monotonic()
    with pytest.raises(
        DependencyUnavailable, match=f"could not connect to the language model at http://127.0.0.1:{port}"
    ):
        list(llm.stream(MESSAGES))
    with pytest.raises(DependencyUnavailable, match="could not connect"):
        llm.complete(MESSAGES)
    assert time.monotonic() - begun < 2
    assert llm.admission.in_use == 0
    assert llm.context_tokens() == 3000 and llm.count_tokens("one two three") == estimate_tokens(
        "one two three"
    )


def test_a_stalled_complete_times_out(server: ScriptedOpenAI) -> None:
    server.reset(hold_headers_s=5)
    llm = client(server, timeout_s=0.4)
    begun = time.monotonic()
    with pytest.raises(DependencyUnavailable, match=r"did not finish answering within 0\.4 s"):
        llm.complete(MESSAGES)
    assert time.monotonic() - begun < 1.5


def test_one_more_stream_than_slots_is_refused_within_the_queue_timeout(server: ScriptedOpenAI) -> None:
    server.reset(piece_delay_s=0.2)
    llm = client(server, max_concurrent=2, queue_timeout_s=0.3)
    first, second = llm.stream(MESSAGES), llm.stream(MESSAGES)
    assert next(first) == next(second) == PIECES[0]
    begun = time.monotonic()
    with pytest.raises(Overloaded, match="busy") as refused:
        next(llm.stream(MESSAGES))
    assert 0.25 < time.monotonic() - begun < 1.0
    assert refused.value.retry_after >= 1 and refused.value.status == 429
    first.close()  # a closed stream frees its slot
    third = llm.stream(MESSAGES)
    assert next(third) == PIECES[0]
    second.close()
    third.close()
    assert llm.admission.in_use == 0
    assert len(server.requests) == 3  # the refused one never reached the server


def test_a_waiting_stream_gets_the_slot_freed_within_the_queue_timeout(server: ScriptedOpenAI) -> None:
    server.reset(piece_delay_s=0.2, reply="one two")
    llm = client(server, max_concurrent=1, queue_timeout_s=1.0)
    holder = llm.stream(MESSAGES)
    next(holder)
    threading.Timer(0.2, holder.close).start()  # FastAPI's thread pool closes streams on other threads
    assert list(llm.stream(MESSAGES)) == ["one ", "two"]


def test_failed_streams_free_their_slots(server: ScriptedOpenAI) -> None:
    llm = client(server, max_concurrent=1, queue_timeout_s=0)
    for behaviour in (Behaviour(status=500), Behaviour(malformed_after=1), Behaviour.context_overflow()):
        server.reset(behaviour)
        with pytest.raises(SillokError):
            list(llm.stream(MESSAGES))
        assert llm.admission.in_use == 0
    server.reset()
    abandoned = llm.stream(MESSAGES)
    next(abandoned)
    del abandoned  # dropped without close: the generator is finalised and the slot freed
    assert llm.admission.in_use == 0
    assert list(llm.stream(MESSAGES)) == PIECES


def test_admission_is_shared_when_given() -> None:
    shared = Admission(max_concurrent=1, queue_timeout_s=0)
    slot = shared.acquire()
    with pytest.raises(Overloaded):
        shared.acquire()
    slot.release()
    slot.release()  # twice is harmless
    assert shared.in_use == 0
    with shared.acquire():
        assert shared.in_use == 1


def test_closing_the_stream_cancels_the_generation_upstream(server: ScriptedOpenAI) -> None:
    server.reset(piece_delay_s=0.5)
    llm = client(server)
    stream = llm.stream(MESSAGES)
    assert next(stream) == PIECES[0]
    closed = time.monotonic()
    stream.close()
    assert server.wait_cancelled(1, timeout=1.0)
    exchange = server.exchanges[0]
    assert exchange.cancelled_at is not None and exchange.cancelled_at - closed < 0.3
    assert exchange.pieces_sent == 1 and exchange.finished_at is None
    assert llm.admission.in_use == 0


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour.context_overflow(window=4096, requested=5000),  # vLLM's flat error object
        Behaviour(
            status=400, error_message="Requested tokens (5000) exceed context window of 4096"
        ),  # llama.cpp
    ],
)
def test_a_prompt_over_the_context_window_is_context_too_long(
    server: ScriptedOpenAI, behaviour: Behaviour
) -> None:
    server.reset(behaviour)
    llm = client(server)
    with pytest.raises(ContextTooLong, match="context window of 4096 tokens") as refused:
        list(llm.stream(MESSAGES))
    assert refused.value.status == 400
    with pytest.raises(ContextTooLong):
        llm.complete(MESSAGES)


def test_llama_cpp_servers_refusal_without_a_window_is_context_too_long(server: ScriptedOpenAI) -> None:
    server.reset(
        status=400, error_message="the request exceeds the available context size, try increasing it"
    )
    llm = client(server)
    with pytest.raises(ContextTooLong, match=r"do not fit the language model's context window$"):
        llm.complete(MESSAGES)
    assert llm.context_tokens() == 4096  # nothing learned


def test_a_different_bad_request_is_not_mistaken_for_context(server: ScriptedOpenAI) -> None:
    server.reset(status=400, error_message="temperature must be between 0 and 2")
    with pytest.raises(DependencyUnavailable, match="HTTP 400"):
        list(client(server).stream(MESSAGES))


def test_an_overloaded_server_is_overloaded_with_its_retry_after(server: ScriptedOpenAI) -> None:
    llm = client(server)
    server.reset(Behaviour.overloaded(429, "7"))
    with pytest.raises(Overloaded) as busy:
        list(llm.stream(MESSAGES))
    assert busy.value.retry_after == 7
    server.reset(Behaviour.overloaded(429, None))
    with pytest.raises(Overloaded) as busy:
        llm.complete(MESSAGES)
    assert busy.value.retry_after == 1
    server.reset(Behaviour.overloaded(503, "12"))
    with pytest.raises(Overloaded) as busy:
        list(llm.stream(MESSAGES))
    assert busy.value.retry_after == 12
    server.reset(Behaviour.overloaded(503, None))
    with pytest.raises(DependencyUnavailable, match="HTTP 503"):
        list(llm.stream(MESSAGES))


def test_retry_after_in_seconds_or_as_a_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 88 <= (retry_after_s(later) or 0) <= 91
    assert retry_after_s("0") == 1 and retry_after_s("99999") == 3600
    assert retry_after_s("soon") is None and retry_after_s(None) is None


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        (Behaviour(malformed_after=2), "malformed stream"),
        (Behaviour(break_off_after=2), "broke off before it was complete"),
        (Behaviour(stream_error_after=2, error_message="engine died"), "reported an error"),
    ],
)
def test_a_broken_stream_is_dependency_unavailable(
    server: ScriptedOpenAI, behaviour: Behaviour, message: str
) -> None:
    server.reset(behaviour)
    received: list[str] = []
    with pytest.raises(DependencyUnavailable, match=message):
        received.extend(client(server).stream(MESSAGES))
    assert received == PIECES[:2]


LLAMA_CPP_PYTHON_OVERFLOW = (
    "This model's maximum context length is 2048 tokens. However, you requested 2665 tokens "
    "(2649 in the messages, 16 in the completion). Please reduce the length of the messages or completion."
)


def test_an_empty_stream_over_the_window_is_context_too_long_and_the_window_is_learned(
    server: ScriptedOpenAI,
) -> None:
    # llama-cpp-python streams nothing for a prompt over its window; asked plainly, it says why.
    server.reset(empty_stream=True, plain_status=400, error_message=LLAMA_CPP_PYTHON_OVERFLOW)
    llm = client(server)
    assert llm.context_tokens() == 4096
    with pytest.raises(ContextTooLong, match="context window of 2048 tokens"):
        list(llm.stream(MESSAGES, max_tokens=64))
    streamed, plain = server.requests
    assert streamed["stream"] is True and streamed["max_tokens"] == 64
    assert plain["stream"] is False and plain["max_tokens"] == 1 and plain["messages"] == MESSAGES
    assert llm.context_tokens() == 2048  # below the 4096 that /v1/models reports
    assert llm.admission.in_use == 0
    server.reset()
    assert llm.complete(MESSAGES) == REPLY  # not on the connection the server dropped
    assert list(llm.stream(MESSAGES)) == PIECES


def test_an_empty_stream_the_server_cannot_explain_is_a_broken_answer(server: ScriptedOpenAI) -> None:
    server.reset(empty_stream=True)
    llm = client(server)
    with pytest.raises(DependencyUnavailable, match="broke off before it was complete"):
        list(llm.stream(MESSAGES))
    assert [r["stream"] for r in server.requests] == [True, False]
    assert llm.context_tokens() == 4096
    server.reset(empty_stream=True, plain_status=500, error_message="model crashed")
    with pytest.raises(DependencyUnavailable, match="HTTP 500"):
        list(llm.stream(MESSAGES))


def test_a_stream_that_did_not_end_cleanly_leaves_its_connection_out_of_the_pool(
    server: ScriptedOpenAI,
) -> None:
    with dropping_relay(server) as relay:
        llm = client(server, base_url=relay.url)
        assert llm.complete(MESSAGES) == llm.complete(MESSAGES) == REPLY
        assert relay.connections == 1  # a clean answer keeps its connection
        server.reset(break_off_after=2)  # a body that ends well, but without a finish reason
        with pytest.raises(DependencyUnavailable, match="broke off"):
            list(llm.stream(MESSAGES))
        server.reset()
        assert llm.complete(MESSAGES) == REPLY
        assert relay.connections == 2


@pytest.mark.parametrize("kind", ["complete", "stream"])
def test_a_request_dropped_unanswered_is_sent_once_more(server: ScriptedOpenAI, kind: str) -> None:
    def ask(llm: OpenAICompatibleLLM) -> str:
        return llm.complete(MESSAGES) if kind == "complete" else "".join(llm.stream(MESSAGES))

    with dropping_relay(server) as relay:
        llm = client(server, base_url=relay.url)
        assert ask(llm) == REPLY
        relay.drop = 1  # the kept-alive connection is closed as the next request arrives
        assert ask(llm) == REPLY
        assert relay.dropped == 1 and len(server.requests) == 2
        relay.drop = 5  # a server that drops every request: sent twice, then a clear error
        with pytest.raises(DependencyUnavailable, match="connection to the language model broke off"):
            ask(llm)
        assert relay.dropped == 3 and len(server.requests) == 2
        assert llm.admission.in_use == 0


def test_the_context_window_comes_from_the_server_once(server: ScriptedOpenAI) -> None:
    server.reset(context_window=8192)
    llm = client(server)
    assert llm.context_tokens() == 8192
    assert llm.context_tokens() == 8192
    assert server.models_calls == 1
    assert client(server, models={"scripted": ModelOverrides(context_tokens=16384)}).context_tokens() == 8192
    server.reset(context_window=None)  # llama-cpp-python reports none
    assert client(server, context_tokens=2500).context_tokens() == 2500
    assert client(server, models={"scripted": ModelOverrides(context_tokens=16384)}).context_tokens() == 16384
    server.reset(model_id="some-other-model")  # one model listed under another name: still the one served
    assert client(server).context_tokens() == 4096


@pytest.mark.parametrize(
    ("tokenizer", "path", "calls_to_find"),
    [
        ("vllm", "/tokenize", 1),
        ("llama-cpp-python", "/extras/tokenize/count", 2),
        ("llama.cpp", "/tokenize", 3),
    ],
)
def test_tokens_are_counted_by_the_servers_tokenizer(
    server: ScriptedOpenAI, tokenizer: str, path: str, calls_to_find: int
) -> None:
    server.reset(tokenizer=tokenizer)
    llm = client(server)
    text = "one two three four five six seven"
    assert llm.count_tokens(text) == 7 != estimate_tokens(text)
    assert len(server.tokenize_calls) == calls_to_find
    assert llm.count_tokens("연차는 며칠인가요") == 2
    assert llm.count_tokens("") == 0
    assert len(server.tokenize_calls) == calls_to_find + 1  # remembered: one request per count
    assert server.tokenize_calls[-1][0] == path


def test_without_a_tokenizer_the_estimate_is_used_and_the_server_is_not_asked_again(
    server: ScriptedOpenAI,
) -> None:
    server.reset(tokenizer="none")
    llm = client(server)
    assert llm.count_tokens("one two three") == estimate_tokens("one two three") == 5
    probes = len(server.tokenize_calls)
    assert (
        llm.count_tokens("연차는 며칠인가요")
        == estimate_tokens("연차는 며칠인가요")
        == len("연차는 며칠인가요".encode())  # a token per byte: 24 of Hangul and the space
    )
    assert len(server.tokenize_calls) == probes


# The API's SSE helper, in a real HTTP server between a client and the scripted model.


@contextmanager
def api_serving(app: FastAPI) -> Iterator[str]:
    port = free_port()
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    while not runner.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


def answer_app(llm: OpenAICompatibleLLM) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    def delta(piece: str) -> str:
        return f"event: delta\ndata: {json.dumps({'text': piece})}\n\n"

    def error(exc: SillokError) -> str:
        return f"event: error\ndata: {json.dumps({'code': exc.code, 'message': exc.message})}\n\n"

    @app.post("/chat")
    def chat() -> StreamingResponse:
        return sse_stream(started(llm.stream(MESSAGES)), delta, error, end="event: end\ndata: {}\n\n")

    return app


def events_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        kind, data = block.split("\n")
        out.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_sse_stream_renders_every_part_an_error_and_the_end(server: ScriptedOpenAI) -> None:
    llm = client(server, idle_timeout_s=0.2)
    with api_serving(answer_app(llm)) as url:
        reply = httpx2.post(f"{url}/chat", timeout=5)
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert events_of(reply.text) == [("delta", {"text": p}) for p in PIECES] + [("end", {})]
        server.reset(stall_after=1)
        events = events_of(httpx2.post(f"{url}/chat", timeout=5).text)
        assert events[0] == ("delta", {"text": PIECES[0]})
        assert events[1][0] == "error" and events[1][1]["code"] == "dependency_unavailable"
        assert events[2] == ("end", {})
        server.reset(Behaviour.overloaded(429, "9"))  # before the first part: a real 429
        refused = httpx2.post(f"{url}/chat", timeout=5)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "9"
        assert refused.json()["error"]["code"] == "overloaded"
    assert llm.admission.in_use == 0


def test_a_client_leaving_the_sse_stream_cancels_the_model_at_once(server: ScriptedOpenAI) -> None:
    server.reset(piece_delay_s=0.4)
    llm = client(server)
    with api_serving(answer_app(llm)) as url, httpx2.Client(timeout=5) as http:
        with http.stream("POST", f"{url}/chat") as reply:
            first = next(reply.iter_lines())
            assert first == "event: delta"
            left = time.monotonic()
        assert server.wait_cancelled(1, timeout=1.5)
        exchange = server.exchanges[0]
        assert exchange.cancelled_at is not None and exchange.cancelled_at - left < 1.0
        assert exchange.pieces_sent < len(PIECES)
        deadline = time.monotonic() + 1
        while llm.admission.in_use and time.monotonic() < deadline:
            time.sleep(0.02)
        assert llm.admission.in_use == 0


def test_a_stream_is_counted_in_the_generation_metrics(server: ScriptedOpenAI) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (sample("sillok_llm_completion_tokens_total"), sample("sillok_llm_streams_total", outcome="ok"))
    firsts = sample("sillok_llm_seconds_count", stage="first_token")
    assert list(client(server).stream(MESSAGES)) == PIECES
    assert sample("sillok_llm_completion_tokens_total") == before[0] + len(PIECES)
    assert sample("sillok_llm_streams_total", outcome="ok") == before[1] + 1
    assert sample("sillok_llm_seconds_count", stage="first_token") == firsts + 1
