"""A user's conversations and feedback; another user's conversation is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from core.conversations import visible_message
from core.cursor import DEFAULT_PAGE
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import (
    FOUND,
    FOUND_WITH_BODY,
    WITH_INPUT,
    ConversationList,
    ConversationView,
)
from serving.api.schemas import Cursor, FeedbackBody, PageLimit
from serving.api.scopes import Scope

router = APIRouter(prefix="/api/v1", tags=["chat"], dependencies=[Scope("chat")])


@router.get("/conversations", response_model=ConversationList, responses=WITH_INPUT)
def list_conversations(
    principal: CurrentPrincipal,
    container: ContainerDep,
    cursor: Cursor = None,
    limit: PageLimit = DEFAULT_PAGE,
) -> dict[str, Any]:
    """The caller's conversations, most recently active first, a page at a time."""
    conversations, after = container.conversations.for_user(principal, cursor, limit)
    return {"conversations": conversations, "next_cursor": after}


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationView,
    response_model_exclude_unset=True,  # an answer's checks only where they were kept
    responses=FOUND,
)
def get_conversation(
    conversation_id: str, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any]:
    """One conversation with its messages, re-checked against today's ACLs: an answer citing a
    document the caller may no longer read is withheld."""
    conversation = container.conversations.get(principal, conversation_id)
    cited = {c["document_id"] for m in conversation.messages for c in m.citations}
    readable = container.documents.readable_versions(principal, cited)
    return {
        "id": conversation.id,
        "title": conversation.title,
        "messages": [visible_message(m, readable) for m in conversation.messages],
    }


@router.delete("/conversations/{conversation_id}", status_code=204, responses=FOUND)
def delete_conversation(
    conversation_id: str, principal: CurrentPrincipal, container: ContainerDep
) -> Response:
    """Delete one of the caller's conversations."""
    container.conversations.delete(principal, conversation_id)
    return Response(status_code=204)


@router.post("/messages/{message_id}/feedback", status_code=204, responses=FOUND_WITH_BODY)
def feedback(
    message_id: int, body: FeedbackBody, principal: CurrentPrincipal, container: ContainerDep
) -> Response:
    """Thumbs up (1) or down (-1), with an optional comment, on one of the caller's answers."""
    container.conversations.feedback(principal, message_id, body.rating, body.comment)
    container.audit.record(principal, "feedback", "rest", {"message_id": message_id, "rating": body.rating})
    return Response(status_code=204)
