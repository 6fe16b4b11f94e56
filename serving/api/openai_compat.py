"""An OpenAI-compatible chat API for internal tools, answered by Sillok with citations.

`POST /v1/chat/completions` answers the last user message with the caller's documents (the
same ACL filter and audit as every channel); the earlier user and assistant messages are the
conversation, so a follow-up is retrieved in context. Client system messages are ignored: the
rules of a grounded answer are Sillok's. The citations and the verification are in an extra
`sillok` field. `GET /v1/models` lists the one model, `sillok`; any other name is refused with
OpenAI's error shape.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from core.errors import InvalidInput, SillokError
from core.types import Turn
from serving import asking
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import AUTHENTICATED, COMPLETIONS, Completion, ModelList
from serving.api.scopes import Scope
from serving.api.streaming import sse_stream, started

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Scope("chat")])
MODEL = "sillok"


class ChatMessage(BaseModel):
    """One message of an OpenAI chat request."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    """The subset of OpenAI's chat completion request Sillok honours (others are ignored)."""

    model: str = MODEL
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    user: str | None = None


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def conversation(body: CompletionRequest) -> tuple[str, list[Turn]]:
    """The last user message, and the earlier user messages with the assistant reply after each."""
    chat = [(m.role, _text(m.content).strip()) for m in body.messages if m.role in ("user", "assistant")]
    last = max((i for i, (role, _) in enumerate(chat) if role == "user"), default=None)
    if last is None or not chat[last][1]:
        raise InvalidInput("the request needs a user message with text")
    if len(chat[last][1]) > 8000:
        raise InvalidInput("the question is longer than 8000 characters")
    history: list[Turn] = []
    for i, (role, text) in enumerate(chat[:last]):
        if role == "user" and text:
            reply = chat[i + 1][1] if i + 1 < last and chat[i + 1][0] == "assistant" else ""
            history.append(Turn(text, reply))
    return chat[last][1], history


def unknown_model(name: str) -> JSONResponse:
    """OpenAI's answer to a model name it does not serve."""
    error = {
        "message": f"The model `{name[:100]}` does not exist; this endpoint serves `{MODEL}`.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    return JSONResponse({"error": error}, status_code=404)


def _sillok_field(reply: asking.Reply) -> dict[str, Any]:
    # `answer` is the checked text, which a streaming client shows in place of the deltas.
    return reply.answer.as_dict() | {"conversation_id": reply.conversation_id, "message_id": reply.message_id}


@router.get("/models", response_model=ModelList, responses=AUTHENTICATED)
def models(_: CurrentPrincipal) -> dict[str, Any]:
    """The one model this endpoint serves."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "sillok"}]}


@router.post("/chat/completions", response_model=Completion, responses=COMPLETIONS)
def completions(
    body: CompletionRequest, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any] | StreamingResponse | JSONResponse:
    """A chat completion; `stream: true` gives `chat.completion.chunk` events and `[DONE]`."""
    if body.model != MODEL:
        return unknown_model(body.model)
    question, history = conversation(body)
    parts = container.asking.ask(principal, question, None, "openai", history)
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        reply = asking.final(parts)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.answer.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "sillok": _sillok_field(reply),
        }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    first = True

    def render(part: str | asking.Reply) -> str:
        nonlocal first
        role: dict[str, Any] = {"role": "assistant"} if first else {}
        first = False
        if isinstance(part, asking.Reply):
            return chunk(role, "stop", sillok=_sillok_field(part))
        return chunk({**role, "content": part})

    def on_error(exc: SillokError) -> str:
        return f"data: {json.dumps({'error': {'code': exc.code, 'message': exc.message}})}\n\n"

    return sse_stream(started(parts), render, on_error, end="data: [DONE]\n\n")
