"""The OpenAI-compatible client against a scripted OpenAI-compatible HTTP server on localhost:
completion, streaming, and a stalled server turning into a clear `DependencyUnavailable`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.errors import DependencyUnavailable
from core.settings import LLMSettings
from retrieval.llm import OpenAICompatibleLLM
from tests.e2e.helpers import free_port

pytestmark = pytest.mark.integration
REPLY = "Annual leave is 15 days [1]."


def scripted_server() -> FastAPI:
    app = FastAPI()
    app.state.requests = []

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> JSONResponse | StreamingResponse:
        body = await request.json()
        app.state.requests.append(body)
        if body["model"] == "stalled":
            time.sleep(3)
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": REPLY},
                        }
                    ],
                }
            )

        def events() -> Iterator[str]:
            for word in REPLY.split(" "):
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FastAPI]]:
    app = scripted_server()
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(timeout=10)


def test_complete_and_stream(server: tuple[str, FastAPI]) -> None:
    url, app = server
    llm = OpenAICompatibleLLM(LLMSettings(base_url=url, model="qwen", max_tokens=64, temperature=0))
    messages = [{"role": "user", "content": "How much leave?"}]
    assert llm.complete(messages) == REPLY
    assert "".join(llm.stream(messages)).strip() == REPLY
    sent = app.state.requests[-1]
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0 and sent["stream"] is True


def test_a_stalled_server_times_out_with_a_clear_error(server: tuple[str, FastAPI]) -> None:
    url, _ = server
    llm = OpenAICompatibleLLM(LLMSettings(base_url=url, model="stalled", timeout_s=0.5))
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="did not answer"):
        llm.complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 5


def test_an_unreachable_server_is_a_clear_error() -> None:
    llm = OpenAICompatibleLLM(LLMSettings(base_url=f"http://127.0.0.1:{free_port()}", model="x", timeout_s=1))
    with pytest.raises(DependencyUnavailable):
        list(llm.stream([{"role": "user", "content": "hi"}]))
