"""A scripted OpenAI-compatible chat server on localhost, so the browser sees real token streams.

It answers from the prompt it is given, the way a well-behaved model would: it quotes the
beginning of source 1 and cites it as [1] after every sentence, word by word with a short
pause. A question that contains `ECHO` gets every source and the question back verbatim (to
carry hostile text into an answer); `FORMAT` gets the first sentence as Markdown (emphasis, a
table, a list, inline code) with a remote image and a link to another host; `EMBELLISH` gets
the quote plus a sentence no source states; a question about Mars (or 화성), or a prompt
without sources, gets the refusal sentence in the question's language. A request to rewrite a
follow-up question (no sources, a conversation) gets the last question joined to the one
before it. Non-streaming requests get the same text as one JSON completion.
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
from fastapi.responses import JSONResponse, Response, StreamingResponse

from retrieval.language import detect, say
from tests.e2e.helpers import free_port

# A title may itself hold quotes and `">`: it runs to the end of its line.
SOURCE = re.compile(r'<source id="(\d+)" title="[^\n]*">\n(.*?)\n</source>', re.DOTALL)
QUESTION = re.compile(r"\n\nQuestion: (.*)\Z", re.DOTALL)
LAST_QUESTION = re.compile(r"\n\nLast question: (.*)\Z", re.DOTALL)
EARLIER_QUESTION = re.compile(r"^User: (.*)$", re.MULTILINE)
OUTSIDE = "http://evil.example"
UNSUPPORTED_CLAIM = "Every employee also receives a free sports car and 90 extra vacation days each year [1]."
SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
WORD_PAUSE_S = 0.03
SLOW_PAUSE_S = 0.25  # for questions that ask for it, so a person (or a test) can stop them
QUOTE_CHARS = 160


def question_of(prompt: str) -> str:
    """The user's question at the end of a Sillok prompt."""
    found = QUESTION.search(prompt)
    return found.group(1).strip() if found else ""


def rewrite_for(prompt: str) -> str | None:
    """A standalone version of a follow-up question, when `prompt` asks for one."""
    last = LAST_QUESTION.search(prompt)
    if not last:
        return None
    earlier = EARLIER_QUESTION.findall(prompt)
    previous = earlier[-1].strip() if earlier else ""
    return f"{last.group(1).strip()} {previous}".strip()


def _sentences(text: str) -> list[str]:
    """The first sentences of `text`, about `QUOTE_CHARS` long in all."""
    sentences = SENTENCE_END.split(" ".join(text.split()))
    picked = [sentences[0][:400].rstrip()]
    for sentence in sentences[1:]:
        if sum(len(p) for p in picked) >= QUOTE_CHARS:
            break
        picked.append(sentence[:400].rstrip())
    return picked


def _quote(text: str) -> str:
    """The first sentences of `text`, each citing source 1."""
    return " ".join(f"{sentence} [1]" for sentence in _sentences(text))


def reply_for(prompt: str) -> str:
    """What the scripted model says to a Sillok prompt."""
    rewrite = rewrite_for(prompt)
    if rewrite is not None and not SOURCE.search(prompt):
        return rewrite
    sources = SOURCE.findall(prompt)
    question = question_of(prompt)
    if not sources or "mars" in question.lower() or "화성" in question:
        return say("refusal", detect(question))
    first = sources[0][1].strip()
    if "ECHO" in question:
        echoed = "\n\n".join(f"{text.strip()} [{n}]" for n, text in sources)
        return f"{echoed}\n\n{question}"
    quote = _quote(first)
    if "FORMAT" in question:
        plain = _sentences(first)[0].replace("|", " ")
        words = plain.split()
        return "\n".join(
            [
                f"**{plain}** [1]",
                "",
                "| Source | Passage |",
                "|:--|:--|",
                f"| [1] | {plain} |",
                "",
                f"- {plain} [1]",
                f"- `{words[0]}` ![chart]({OUTSIDE}/chart.png) [more]({OUTSIDE}/more) [1]",
            ]
        )
    if "EMBELLISH" in question:
        return f"{quote} {UNSUPPORTED_CLAIM}"
    return quote


def _chunk(model: str, content: str, finish: str | None = None) -> str:
    delta = {"content": content} if content else {}
    body = {
        "id": "scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


def scripted_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
        text = reply_for(prompt)
        model = str(body.get("model", "scripted"))
        pause = SLOW_PAUSE_S if "slowly" in question_of(prompt) else WORD_PAUSE_S
        if not body.get("stream"):
            return JSONResponse(_completion(model, text))

        def events() -> Iterator[str]:
            for piece in re.findall(r"\S+\s*|\s+", text):
                time.sleep(pause)
                yield _chunk(model, piece)
            yield _chunk(model, "", "stop")  # a complete answer says so before [DONE]
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
