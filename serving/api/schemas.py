"""Request bodies of the public REST API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SearchRequest(BaseModel):
    """`POST /api/v1/search`."""

    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=10, ge=1, le=100)


class ChatRequest(BaseModel):
    """`POST /api/v1/chat`."""

    message: str = Field(min_length=1, max_length=8000)
    conversation_id: str | None = Field(default=None, max_length=64)
    stream: bool = False
