"""Chat conversations, their messages and feedback, kept per user.

A conversation is visible to its owner only; anyone else asking for it gets the same 404 as
for one that does not exist. Messages keep the citations that were shown, so history can be
re-checked against the ACLs of today before it is shown again (see `visible_message`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.acl import Principal
from core.cursor import MAX_PAGE
from core.cursor import decode as cursor_key
from core.cursor import encode as cursor_of
from core.db.models import Conversation, Feedback, Message, iso, utcnow
from core.errors import InvalidInput, NotFound
from core.types import Answer, Turn

WITHHELD = "This answer is no longer shown: a source it cites is not available to you any more."
_TITLE_CHARS = 80


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_CHECK_FIELDS = ("refused", "language", "groundedness", "sentences", "dropped_citations")


def checks_of(answer: Answer) -> dict[str, Any]:
    """What is kept of an answer's verification."""
    shape = answer.as_dict()
    return {key: shape[key] for key in _CHECK_FIELDS}


def visible_message(message: Message, readable: Collection[str]) -> dict[str, Any]:
    """A stored message as its owner may see it now: withheld if any cited document is no
    longer readable (`readable` holds the ids of the cited documents the owner may read)."""
    cited = {c["document_id"] for c in message.citations}
    withheld = not cited <= set(readable)
    return {
        "id": message.id,
        "question": message.question,
        "answer": WITHHELD if withheld else message.answer,
        "grounded": message.grounded and not withheld,
        "mode": message.mode,
        "citations": [] if withheld else message.citations,
        **({} if withheld else dict(message.checks or {})),
        "withheld": withheld,
        "channel": message.channel,
        "created_at": iso(message.created_at),
    }


class Conversations:
    """Conversation storage; every method takes the owner, known by its immutable user id."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self, owner: Principal, conversation_id: str | None, question: str, answer: Answer, channel: str
    ) -> tuple[str, int]:
        """Append a question and its answer; a new conversation when no id is given.

        Returns (conversation id, message id).
        """
        with self._sessions.begin() as session:
            if conversation_id is None:
                conversation = Conversation(
                    id=str(uuid.uuid4()),
                    user_id=owner.user_id,
                    username=owner.username,
                    title=" ".join(question.split())[:_TITLE_CHARS],
                )
                session.add(conversation)
            else:
                conversation = self._owned(session, owner, conversation_id, with_messages=False)
            conversation.updated_at = utcnow()
            session.flush()
            message = Message(
                conversation_id=conversation.id,
                question=question,
                answer=answer.text,
                grounded=answer.grounded,
                mode=answer.mode,
                citations=[c.as_dict() for c in answer.citations],
                checks=checks_of(answer),
                channel=channel,
            )
            session.add(message)  # appended without loading the conversation's earlier messages
            session.flush()
            return conversation.id, message.id

    def check(self, owner: Principal, conversation_id: str) -> None:
        """Raise NotFound unless the conversation exists and belongs to `owner`."""
        with self._sessions() as session:
            self._owned(session, owner, conversation_id, with_messages=False)

    def for_user(
        self, owner: Principal, cursor: str | None = None, limit: int = MAX_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the user's conversations, most recently active first, after `cursor`, and
        the next page's cursor (None: the last). A conversation that gets a new message moves to
        the front, so a client paging meanwhile may meet it again, never miss an untouched one."""
        query = (
            select(Conversation)
            .where(Conversation.user_id == owner.user_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit + 1)
        )
        if cursor:
            at, last = cursor_key(cursor, str, str)
            try:
                moment = datetime.fromisoformat(str(at))
            except ValueError as exc:
                raise InvalidInput("cursor is not one this server gave out") from exc
            query = query.where(
                or_(
                    Conversation.updated_at < moment,
                    and_(Conversation.updated_at == moment, Conversation.id < str(last)),
                )
            )
        with self._sessions() as session:
            rows = session.scalars(query).all()
            page = [{"id": c.id, "title": c.title, "updated_at": iso(c.updated_at)} for c in rows[:limit]]
            more = len(rows) > limit
            return page, cursor_of(
                _utc(rows[limit - 1].updated_at).isoformat(), rows[limit - 1].id
            ) if more else None

    def history(self, owner: Principal, conversation_id: str, turns: int) -> list[Turn]:
        """The last `turns` questions of one of the user's conversations with their answers,
        oldest first."""
        with self._sessions() as session:
            self._owned(session, owner, conversation_id, with_messages=False)
            if not turns:
                return []
            latest = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id.desc())
                .limit(turns)
            ).all()
            return [Turn(m.question, m.answer) for m in reversed(latest)]

    def get(self, owner: Principal, conversation_id: str) -> Conversation:
        """One of the user's conversations with its messages loaded."""
        with self._sessions() as session:
            return self._owned(session, owner, conversation_id)

    def message(self, owner: Principal, message_id: int) -> Message:
        """One of the user's messages (NotFound for anyone else's, as for a missing one)."""
        with self._sessions() as session:
            message = session.get(Message, message_id)
            if message is None or not owner.user_id or message.conversation.user_id != owner.user_id:
                raise NotFound("message not found")
            return message

    def delete(self, owner: Principal, conversation_id: str) -> None:
        """Delete one of the user's conversations."""
        with self._sessions.begin() as session:
            session.delete(self._owned(session, owner, conversation_id))

    def feedback(self, owner: Principal, message_id: int, rating: int, comment: str | None) -> None:
        """Store (or replace) the user's thumbs up (+1) or down (-1) on one of their answers."""
        if rating not in (1, -1):
            raise InvalidInput("rating must be 1 (thumbs up) or -1 (thumbs down)")
        with self._sessions.begin() as session:
            message = session.get(Message, message_id)
            if message is None or not owner.user_id or message.conversation.user_id != owner.user_id:
                raise NotFound("message not found")
            existing = session.scalar(
                select(Feedback).where(Feedback.message_id == message_id, Feedback.user_id == owner.user_id)
            )
            if existing is None:
                session.add(
                    Feedback(
                        message_id=message_id,
                        user_id=owner.user_id,
                        username=owner.username,
                        rating=rating,
                        comment=comment,
                    )
                )
            else:
                existing.rating, existing.comment = rating, comment

    @staticmethod
    def _owned(
        session: Session, owner: Principal, conversation_id: str, with_messages: bool = True
    ) -> Conversation:
        query = select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == owner.user_id
        )
        conversation = session.scalar(
            query.options(selectinload(Conversation.messages)) if with_messages else query
        )
        if conversation is None:
            raise NotFound("conversation not found")
        return conversation
