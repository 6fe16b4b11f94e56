"""Questions from any channel: answer, keep the conversation, audit what was shown.

REST chat, the OpenAI-compatible endpoint, the CLI and the bots all go through `ask` and
`search`, so every channel has the same ACL filter, history and audit trail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from core.acl import Principal
from core.audit import AuditLog, Shown
from core.conversations import Conversations
from core.types import Answer, ScoredChunk, Turn
from retrieval.answer import AnswerService
from retrieval.retriever import Retriever

QUESTIONS = Counter("sillok_questions_total", "Questions answered", ["channel", "mode", "grounded"])
ANSWER_SECONDS = Histogram(
    "sillok_answer_seconds",
    "Time to the first piece of an answer and to the checked answer, per channel",
    ["channel", "stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
SEARCH_SECONDS = Histogram(
    "sillok_search_seconds",
    "Retrieval time of a search (query embedding, filtered index query, registry check)",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
)


@dataclass(frozen=True)
class Reply:
    """The final answer with where it was stored."""

    answer: Answer
    conversation_id: str
    message_id: int

    def as_dict(self) -> dict[str, object]:
        """The contract's answer object plus the conversation and message ids."""
        return {
            **self.answer.as_dict(),
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
        }


@dataclass(frozen=True)
class Asking:
    """What answering a question touches: the answers, the search, the conversations, the audit."""

    answers: AnswerService
    retriever: Retriever
    conversations: Conversations
    audit: AuditLog

    def ask(
        self,
        principal: Principal,
        question: str,
        conversation_id: str | None,
        channel: str,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Reply]:
        """Text pieces as they are generated, then the stored `Reply` (always last).

        The conversation's earlier turns (or `history`, from a client that keeps its own, like
        the OpenAI-compatible endpoint) feed the retrieval of a follow-up. A conversation id
        that is not the caller's is refused before anything is retrieved.
        """
        if conversation_id is not None:
            turns = self.answers.history_turns
            history = [*self.conversations.history(principal, conversation_id, turns), *history]
        started, first = time.perf_counter(), True
        for part in self.answers.stream(principal, question, history):
            if first:
                ANSWER_SECONDS.labels(channel, "first_piece").observe(time.perf_counter() - started)
                first = False
            if not isinstance(part, Answer):
                yield part
                continue
            ANSWER_SECONDS.labels(channel, "answer").observe(time.perf_counter() - started)
            conversation, message = self.conversations.record(
                principal, conversation_id, question, part, channel
            )
            shown = [Shown(c.document_id, c.version, c.chunk_id) for c in part.citations]
            detail = {"question": question, "conversation_id": conversation, "message_id": message}
            checks = {
                "grounded": part.grounded,
                "groundedness": round(part.groundedness, 3),
                "refused": part.refused,
            }
            self.audit.record(principal, "chat", channel, {**detail, **checks}, shown)
            QUESTIONS.labels(channel, part.mode, str(part.grounded).lower()).inc()
            yield Reply(part, conversation, message)

    def search(self, principal: Principal, query: str, top_k: int, channel: str) -> list[ScoredChunk]:
        """Ranked passages the principal may read, audited."""
        started = time.perf_counter()
        hits = self.retriever.search(principal, query, top_k)
        SEARCH_SECONDS.labels(channel).observe(time.perf_counter() - started)
        shown = [Shown(h.chunk.document_id, h.chunk.version, h.chunk.id) for h in hits]
        self.audit.record(principal, "search", channel, {"query": query, "top_k": top_k}, shown)
        return hits


def final(parts: Iterator[str | Reply]) -> Reply:
    """Run `ask` to the end and return its reply."""
    reply: Reply | None = None
    for part in parts:
        if isinstance(part, Reply):
            reply = part
    if reply is None:
        raise RuntimeError("the answer stream ended without an answer")
    return reply
