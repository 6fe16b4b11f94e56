"""An OpenAI-compatible chat API for internal tools, answered by Sillok with citations.

`POST /v1/chat/completions` answers the last user message with the caller's documents (the
same ACL filter, history and audit as every channel) and puts the citations in an extra
`sillok` field; `GET /v1/models` lists the one model, `sillok`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from core.errors import InvalidInput, SillokError
from serving import asking
from serving.api.deps import ContainerDep, CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["openai"])
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


def _question(body: CompletionRequest) -> str:
    users = [_text(m.content).strip() for m in body.messages if m.role == "user"]
    if not users or not users[-1]:
        raise InvalidInput("the request needs a user message with text")
    if len(users[-1]) > 8000:
        raise InvalidInput("the question is longer than 8000 characters")
    return users[-1]


def _sillok_field(reply: asking.Reply) -> dict[str, Any]:
    answer = reply.answer.as_dict()
    return {
        "grounded": answer["grounded"],
        "mode": answer["mode"],
        "citations": answer["citations"],
        "conversation_id": reply.conversation_id,
        "message_id": reply.message_id,
    }


@router.get("/models")
def models(_: CurrentPrincipal) -> dict[str, Any]:
    """The one model this endpoint serves."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "sillok"}]}


@router.post("/chat/completions", response_model=None)
def completions(
    body: CompletionRequest, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any] | StreamingResponse:
    """A chat completion; `stream: true` gives `chat.completion.chunk` events and `[DONE]`."""
    parts = container.asking.ask(principal, _question(body), None, "openai")
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

    def events() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            for part in parts:
                if isinstance(part, asking.Reply):
                    yield chunk({}, "stop", sillok=_sillok_field(part))
                else:
                    yield chunk({"content": part})
        except SillokError as exc:
            yield f"data: {json.dumps({'error': {'code': exc.code, 'message': exc.message}})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
