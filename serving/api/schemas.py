"""Request bodies of the public REST API."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from core.cursor import MAX_PAGE

Name = Annotated[str, Field(min_length=1, max_length=128)]  # a user or group name
ListedStatus = Literal["queued", "processing", "indexed", "failed"]  # `GET /api/v1/documents?status=`
ListScope = Literal["readable", "all"]  # `?scope=`: what the caller may read, or (admins) everything


class SearchRequest(BaseModel):
    """`POST /api/v1/search`."""

    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=10, ge=1, le=100)


class ChatRequest(BaseModel):
    """`POST /api/v1/chat`."""

    message: str = Field(min_length=1, max_length=8000)
    conversation_id: str | None = Field(default=None, max_length=64)
    stream: bool = False


class AclBody(BaseModel):
    """Who may read a document: `{"users": [...], "groups": [...], "public": bool}`."""

    users: list[Name] = Field(default_factory=list, max_length=1000)
    groups: list[Name] = Field(default_factory=list, max_length=1000)
    public: bool = False


class NewUser(BaseModel):
    """`POST /api/v1/users`."""

    username: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=320)
    groups: list[Name] = Field(default_factory=list, max_length=1000)
    admin: bool = False
    password: str | None = Field(default=None, min_length=12, max_length=1024)  # for web sign-in
    service: bool = False  # a service account: never signs in, acts only by API key


class GroupsBody(BaseModel):
    """`PUT /api/v1/users/{username}/groups`."""

    groups: list[Name] = Field(max_length=1000)


class FeedbackBody(BaseModel):
    """`POST /api/v1/messages/{id}/feedback`: thumbs up (1) or down (-1), and a comment."""

    rating: Literal[1, -1] = Field(description="1: thumbs up, -1: thumbs down")
    comment: str | None = Field(default=None, max_length=4000)


# A page of a list: `cursor` is the `next_cursor` of the page before (none: the first page).
Cursor = Annotated[str | None, Query(max_length=512, description="the previous page's `next_cursor`")]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")]
