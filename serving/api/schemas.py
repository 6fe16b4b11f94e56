"""Request bodies of the public REST API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.acl import Acl


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

    users: list[str] = Field(default_factory=list, max_length=1000)
    groups: list[str] = Field(default_factory=list, max_length=1000)
    public: bool = False

    def to_acl(self) -> Acl:
        """The validated ACL (names checked)."""
        return Acl.of(self.users, self.groups, self.public)
