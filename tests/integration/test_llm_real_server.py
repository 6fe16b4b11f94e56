"""The OpenAI-compatible client against a real server: llama-cpp-python serving SmolLM2-135M on
localhost. Streaming, the server's window and tokenizer, over-long prompts, closing a stream
early, a first-token deadline and the token estimate against the server's tokenizer."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.errors import ContextTooLong, DependencyUnavailable
from core.settings import LLMSettings
from retrieval.llm import OpenAICompatibleLLM
from retrieval.tokens import estimate_tokens
from tests.conftest import EVAL
from tests.e2e.helpers import ci_requires
from tests.servers.llama import LlamaServer, llama_server, unavailable_reason

pytestmark = pytest.mark.integration
N_CTX = 1024
ENGLISH = (
    "Employees accrue fifteen days of paid annual leave per calendar year; unused days carry over "
    "until the end of March, after which they lapse unless a manager approves an exception in writing."
)
KOREAN = "연차 유급휴가는 매년 15일이 부여되며, 사용하지 않은 휴가는 다음 해 3월 말까지 이월할 수 있습니다."


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    reason = unavailable_reason()
    if reason:
        ci_requires(reason)
    # As with vLLM, only the client's disconnect may stop a generation, not the next request.
    with llama_server(n_ctx=N_CTX, extra_args=("--interrupt_requests", "False")) as srv:
        yield srv


def client(server: LlamaServer, **settings: Any) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(LLMSettings(base_url=server.base_url, model=server.model, **settings))


def ask(text: str) -> list[dict[str, str]]:
    # A fresh prefix keeps the server from reusing the previous prompt's evaluated tokens.
    return [{"role": "user", "content": f"[{uuid.uuid4().hex}] {text}"}]


def server_count(server: LlamaServer, text: str) -> int:
    reply = httpx.post(f"{server.base_url}/extras/tokenize/count", json={"input": text}, timeout=10)
    reply.raise_for_status()
    return int(reply.json()["count"])


def test_a_reply_streams_in_pieces(server: LlamaServer) -> None:
    pieces = list(client(server).stream(ask("Name three colours."), max_tokens=24))
    assert len(pieces) >= 3
    assert "".join(pieces).strip()


def test_max_tokens_bounds_the_reply(server: LlamaServer) -> None:
    reply = client(server).complete(ask("Count from 1 to 100, separated by commas."), max_tokens=8)
    assert 1 <= server_count(server, reply) <= 9  # re-tokenising the text may merge or split one token


def test_the_configured_window_stands_when_the_server_reports_none(server: LlamaServer) -> None:
    # llama-cpp-python's /v1/models names the model only; its window must be configured.
    assert client(server, context_tokens=777).context_tokens() == 777
    per_model = {server.model: {"context_tokens": N_CTX}}
    assert client(server, context_tokens=8000, models=per_model).context_tokens() == N_CTX


@pytest.mark.parametrize("text", [ENGLISH, KOREAN], ids=["english", "korean"])
def test_tokens_are_counted_by_the_servers_tokenizer(server: LlamaServer, text: str) -> None:
    expected = server_count(server, text)
    assert abs(client(server).count_tokens(text) - expected) <= 2


def too_long(server: LlamaServer) -> list[dict[str, str]]:
    messages = ask("Summarise: " + ENGLISH * 40)
    assert server_count(server, messages[0]["content"]) > N_CTX
    return messages


def test_a_prompt_beyond_the_window_is_context_too_long(server: LlamaServer) -> None:
    llm = client(server, context_tokens=100_000)  # the configured window is wrong; the server knows
    with pytest.raises(ContextTooLong, match=f"{N_CTX} tokens"):
        llm.complete(too_long(server), max_tokens=16)


def test_a_streamed_prompt_beyond_the_window_is_context_too_long(server: LlamaServer) -> None:
    # llama-cpp-python answers 200 with an empty event stream and drops the connection.
    llm = client(server, context_tokens=100_000)
    with pytest.raises(ContextTooLong):
        list(llm.stream(too_long(server), max_tokens=16))


def test_the_window_named_by_a_refusal_is_remembered(server: LlamaServer) -> None:
    llm = client(server, context_tokens=100_000)
    with pytest.raises(ContextTooLong, match=f"{N_CTX} tokens"):
        list(llm.stream(too_long(server), max_tokens=16))
    assert llm.context_tokens() == N_CTX


def eval_texts(name: str, count: int) -> list[str]:
    path = EVAL / name / "corpus.jsonl"
    if not path.is_file():
        pytest.skip(f"no shared evaluation set at {path}")
    with path.open(encoding="utf-8") as rows:
        return [json.loads(row)["text"] for row in itertools.islice(rows, 0, 40 * count, 40)]


@pytest.mark.parametrize(("name", "most"), [("ko_rag_allganize", 1.8), ("scifact", 2.4)])
def test_the_estimate_does_not_undercount_the_servers_tokenizer(
    server: LlamaServer, name: str, most: float
) -> None:
    # SmolLM2's tokenizer has few Korean merges: up to a token per byte of Hangul, digits alone.
    for text in eval_texts(name, 15):
        real, estimate = server_count(server, text), estimate_tokens(text)
        assert real * 0.97 <= estimate <= real * most, text[:200]


def test_the_next_question_is_answered_after_a_refused_stream(server: LlamaServer) -> None:
    llm = client(server, context_tokens=100_000)
    with pytest.raises((ContextTooLong, DependencyUnavailable)):
        list(llm.stream(too_long(server), max_tokens=16))
    assert llm.complete(ask("Say yes."), max_tokens=4).strip()  # not the connection the server dropped


def test_closing_a_stream_early_frees_the_server(server: LlamaServer) -> None:
    llm = client(server)
    stream = llm.stream(ask("Write a very long story about a dragon, at least 2000 words."), max_tokens=900)
    assert [next(stream) for _ in range(3)]
    stream.close()
    started = time.monotonic()
    reply = llm.complete(ask("Say yes."), max_tokens=4)
    waited = time.monotonic() - started
    # The story runs to the 900-token limit, which would keep the server busy for 15-25 s here.
    assert reply.strip()
    assert waited < 4.0, f"the next request waited {waited:.1f} s:\n{server.log()[-2000:]}"


def test_a_slow_first_token_is_dependency_unavailable(server: LlamaServer) -> None:
    llm = client(server, first_token_timeout_s=0.3)
    prompt = ask("Summarise: " + ENGLISH * 6)  # about 250 tokens: seconds of prompt processing
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable):
        list(llm.stream(prompt, max_tokens=16))
    assert time.monotonic() - started < 3.0
    client(server).complete(ask("Say yes."), max_tokens=2)  # wait out the abandoned prompt
