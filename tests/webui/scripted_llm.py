"""A scripted OpenAI-compatible chat server on localhost, so the browser sees real token streams.

It answers from the prompt it is given, the way a well-behaved model would: it quotes the
beginning of source 1 and cites it as [1], word by word with a short pause. A question that
contains `ECHO` gets every source and the question back verbatim (to carry hostile text into
an answer); a question about Mars, or a prompt without sources, gets the refusal sentence.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from retrieval.prompt import REFUSAL
from tests.e2e.helpers import free_port

# A title may itself hold quotes and `">`: it runs to the end of its line.
SOURCE = re.compile(r'<source id="(\d+)" title="[^\n]*">\n(.*?)\n</source>', re.DOTALL)
QUESTION = re.compile(r"\n\nQuestion: (.*)\Z", re.DOTALL)
SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
WORD_PAUSE_S = 0.03
SLOW_PAUSE_S = 0.25  # for questions that ask for it, so a person (or a test) can stop them
QUOTE_CHARS = 160


def question_of(prompt: str) -> str:
    """The user's question at the end of a Sillok prompt."""
    found = QUESTION.search(prompt)
    return found.group(1).strip() if found else ""


def reply_for(prompt: str) -> str:
    """What the scripted model says to a Sillok prompt."""
    sources = SOURCE.findall(prompt)
    question = question_of(prompt)
    if not sources or "mars" in question.lower():
        return REFUSAL
    first = sources[0][1].strip()
    if "ECHO" in question:
        echoed = "\n\n".join(f"{text.strip()} [{n}]" for n, text in sources)
        return f"{echoed}\n\n{question}"
    quote = " ".join(first.split())
    sentences = SENTENCE_END.split(quote)
    picked = sentences[0]
    for sentence in sentences[1:]:
        if len(picked) >= QUOTE_CHARS:
            break
        picked = f"{picked} {sentence}"
    return f"{picked[:400].rstrip()} [1]"


def _chunk(model: str, content: str) -> str:
    body = {
        "id": "scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def scripted_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> StreamingResponse:
        body: dict[str, Any] = await request.json()
        prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
        text = reply_for(prompt)
        model = str(body.get("model", "scripted"))
        pause = SLOW_PAUSE_S if "slowly" in question_of(prompt) else WORD_PAUSE_S

        def events() -> Iterator[str]:
            for piece in re.findall(r"\S+\s*|\s+", text):
                time.sleep(pause)
                yield _chunk(model, piece)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@contextmanager
def scripted_llm() -> Iterator[str]:
    """Run the scripted model; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(scripted_app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
