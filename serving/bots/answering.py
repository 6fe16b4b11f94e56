"""The bots' one entry point: a delivered question in, an answer or a notice out, exactly once.

Every platform calls `BotAnswerer`, which decides the same way for all of them: who asks (a
bound account, never a guess), who will read the answer (the asker in a direct message or a
private reply; otherwise every current member of the channel), and answers through `Asking`,
the path every channel shares (ACL filter inside the index, history, audit). The answer is
stored with its delivery before it is returned, so posting can be retried without generating
again; a failure becomes a notice with a correlation id, logged, never a silent drop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import structlog

from core.acl import Principal
from core.bot_settings import BotSettings
from core.conversations import Conversations
from core.documents import DocumentRegistry
from core.errors import NotFound, Overloaded, SillokError
from serving.asking import Asking, Reply
from serving.bots.audience import Audiences
from serving.bots.chat import ChatPlace, ChatUser, Directory, Platform, Question
from serving.bots.identity import ChatIdentities
from serving.bots.ledger import Deliveries, Threads
from serving.bots.metrics import EVENTS, LATENCY, OUTCOMES
from serving.ratelimit import AbuseLimits, RateLimited

log = structlog.get_logger(__name__)

Audience = Literal["asker", "channel", "public"]
NoticeKind = Literal["unknown_user", "failed", "rate_limited", "unsupported", "share_refused", "duplicate"]

UNKNOWN_USER = (
    "I don't know who you are in Sillok yet, so I can't answer you. Ask your Sillok administrator "
    "to create your account with the email address of this chat account, then ask again. "
    "(Sillok 계정이 없습니다. 관리자에게 이 계정의 이메일로 계정을 만들어 달라고 요청하세요.)"
)
UNSUPPORTED_ATTACHMENT = (
    "I don't read files shared in chat. Upload the file in the Sillok web UI, with who may read it, "
    "and ask me again. (채팅으로 공유된 파일은 읽지 않습니다. 웹 UI에서 업로드해 주세요.)"
)
SHARE_REFUSED = (
    "I can't share this answer here: not everyone in this conversation may read the documents it "
    "cites. Ask your question here instead, and I'll answer from what everyone may read."
)

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"</?[A-Za-z][^>]*>")


def safe_markdown(text: str) -> str:
    """Answer Markdown with no images (a remote image would call out when displayed) and no
    raw HTML; link and emphasis syntax is left for the platform's renderer."""
    return _HTML.sub("", _IMAGE.sub(lambda m: m.group(1), text))


@dataclass(frozen=True)
class Source:
    """A numbered source of an answer, with a link to it in the web UI (None without one)."""

    n: int
    title: str
    url: str | None
    page: int | None
    document_id: str


@dataclass(frozen=True)
class BotAnswer:
    """An answer as a platform renders it; `audience` says whose permissions it used."""

    text: str
    sources: tuple[Source, ...]
    grounded: bool
    groundedness: float
    refused: bool
    message_id: int
    conversation_id: str
    correlation_id: str
    audience: Audience

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (kept with the delivery until posted)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BotAnswer:
        """The answer stored by `as_dict`."""
        sources = tuple(Source(**s) for s in data["sources"])
        return cls(**{**data, "sources": sources})


@dataclass(frozen=True)
class Notice:
    """Anything that is not an answer: what to tell the user, and the correlation id logged."""

    kind: NoticeKind
    text: str
    correlation_id: str
    retry_after_s: float | None = None


Outcome = BotAnswer | Notice


class BotAnswerer:
    """Answers delivered questions for Slack and Teams alike."""

    def __init__(
        self,
        asking: Asking,
        identities: ChatIdentities,
        audiences: Audiences,
        deliveries: Deliveries,
        threads: Threads,
        conversations: Conversations,
        documents: DocumentRegistry,
        limits: AbuseLimits | None,
        settings: BotSettings,
    ) -> None:
        self._asking = asking
        self._identities = identities
        self._audiences = audiences
        self._deliveries = deliveries
        self._threads = threads
        self._conversations = conversations
        self._documents = documents
        self._limits = limits
        self._settings = settings

    def answer(
        self, question: Question, directory: Directory, on_text: Callable[[str], None] | None = None
    ) -> Outcome:
        """Answer a delivered question once: a retry of it gets a `duplicate` notice (post
        nothing). `on_text` gets the text so far as the answer streams. Never raises for what
        a user should be told; failures are logged under the notice's correlation id."""
        platform = question.asker.platform
        correlation = self._deliveries.claim(platform, question.event_key)
        if correlation is None:
            EVENTS.labels(platform, "retry").inc()
            return Notice("duplicate", "", "")
        started = time.perf_counter()
        try:
            outcome = self._answer(question, directory, correlation, on_text)
        except (RateLimited, Overloaded) as exc:
            wait = exc.retry_after_s if isinstance(exc, RateLimited) else float(exc.retry_after)
            outcome = Notice(
                "rate_limited", f"Too many questions right now; ask again in {wait:.0f} s.", correlation, wait
            )
        except Exception:
            log.exception("bot_answer_failed", platform=platform, correlation_id=correlation)
            outcome = Notice(
                "failed",
                f"Sorry, I couldn't answer this. If it happens again, give your administrator this "
                f"reference: {correlation}",
                correlation,
            )
        if isinstance(outcome, BotAnswer):
            self._deliveries.store(platform, question.event_key, outcome.as_dict())
            OUTCOMES.labels(platform, "refusal" if outcome.refused else "answer").inc()
            LATENCY.labels(platform).observe(time.perf_counter() - started)
        else:
            self._deliveries.failed(platform, question.event_key)
            OUTCOMES.labels(platform, outcome.kind).inc()
        return outcome

    def _answer(
        self,
        question: Question,
        directory: Directory,
        correlation: str,
        on_text: Callable[[str], None] | None,
    ) -> Outcome:
        asker = self._identities.principal(question.asker, directory)
        if asker is None:
            return Notice("unknown_user", UNKNOWN_USER, correlation)
        if self._limits is not None:
            self._limits.request(asker)
        heard, audience = self._audience(asker, question, directory)
        thread = _thread_key(question.place, audience)
        platform = question.asker.platform
        conversation = self._threads.conversation(platform, thread, asker.user_id)
        text, reply = "", None
        for part in self._asking.ask(heard, question.text, conversation, channel=platform):
            if isinstance(part, Reply):
                reply = part
            else:
                text += part
                if on_text is not None:
                    on_text(text)
        if reply is None:
            raise RuntimeError("the answer stream ended without an answer")
        if conversation is None:
            self._threads.remember(platform, thread, asker.user_id, reply.conversation_id)
        log.info(
            "bot_answered",
            platform=platform,
            audience=audience,
            correlation_id=correlation,
            message_id=reply.message_id,
            refused=reply.answer.refused,
        )
        return self._view(reply, audience, correlation)

    def _audience(
        self, asker: Principal, question: Question, directory: Directory
    ) -> tuple[Principal, Audience]:
        if question.private or question.place.kind == "direct":
            return asker, "asker"
        return self._audiences.narrow(asker, question.asker, question.place, directory)

    def _view(self, reply: Reply, audience: Audience, correlation: str) -> BotAnswer:
        answer = reply.answer
        sources = tuple(
            Source(c.n, c.title, self._link(c.document_id, c.page), c.page, c.document_id)
            for c in answer.citations
        )
        return BotAnswer(
            text=safe_markdown(answer.text),
            sources=sources,
            grounded=answer.grounded,
            groundedness=round(answer.groundedness, 3),
            refused=answer.refused,
            message_id=reply.message_id,
            conversation_id=reply.conversation_id,
            correlation_id=correlation,
            audience=audience,
        )

    def _link(self, document_id: str, page: int | None) -> str | None:
        if not self._settings.web_url:
            return None
        anchor = f"#page={page}" if page else ""
        return f"{self._settings.web_url}/api/v1/documents/{document_id}/content{anchor}"

    def stored(self, platform: Platform, event_key: str) -> BotAnswer | None:
        """The answer already generated for an event, to post again after a failed post."""
        data = self._deliveries.reply(platform, event_key)
        return BotAnswer.from_dict(data) if data else None

    def posted(self, platform: Platform, event_key: str, message_ref: str) -> None:
        """Record where an event's answer was posted (Slack "channel:ts", Teams activity id)."""
        self._deliveries.posted(platform, event_key, message_ref)

    def message_ref(self, platform: Platform, event_key: str) -> str | None:
        """Where an event's answer was posted, to update it instead of posting again."""
        return self._deliveries.message_ref(platform, event_key)

    def share(self, sharer: ChatUser, message_id: int, place: ChatPlace, directory: Directory) -> Outcome:
        """Share one of the sharer's answers into `place`, if every current member of it may
        read every document the answer cites; otherwise a `share_refused` notice."""
        correlation = ""
        principal = self._identities.principal(sharer, directory)
        if principal is None:
            return Notice("unknown_user", UNKNOWN_USER, correlation)
        try:
            message = self._conversations.message(principal, message_id)
        except NotFound:
            return Notice("share_refused", SHARE_REFUSED, correlation)
        heard, audience = self._audiences.narrow(principal, sharer, place, directory)
        cited = {str(c["document_id"]) for c in message.citations}
        readable = self._documents.readable_versions(heard, cited)
        if any(readable.get(str(c["document_id"])) != c.get("version") for c in message.citations):
            OUTCOMES.labels(sharer.platform, "share_refused").inc()
            return Notice("share_refused", SHARE_REFUSED, correlation)
        checks = message.checks or {}
        sources = tuple(
            Source(
                int(c["n"]),
                str(c["title"]),
                self._link(str(c["document_id"]), c.get("page")),
                c.get("page"),
                str(c["document_id"]),
            )
            for c in message.citations
        )
        return BotAnswer(
            text=safe_markdown(message.answer),
            sources=sources,
            grounded=message.grounded,
            groundedness=float(checks.get("groundedness", 1.0 if message.grounded else 0.0)),
            refused=bool(checks.get("refused", False)),
            message_id=message.id,
            conversation_id=message.conversation_id,
            correlation_id=correlation,
            audience=audience,
        )

    def feedback(self, user: ChatUser, message_id: int, rating: int, directory: Directory) -> None:
        """Store a thumbs up (+1) or down (-1) on one of the user's answers, like the web UI's
        (a rating of someone else's answer is ignored, as the web UI refuses it)."""
        principal = self._identities.principal(user, directory)
        if principal is None:
            return
        try:
            self._conversations.feedback(principal, message_id, rating, None)
        except SillokError:
            return
        EVENTS.labels(user.platform, "feedback").inc()

    def forget_members(self, place: ChatPlace) -> None:
        """A membership change: the next answer in `place` reads its members again."""
        self._audiences.forget(place)

    def unsupported_attachment(self, question: Question) -> Notice:
        """The notice for a file shared with the bot: files are uploaded in the web UI."""
        OUTCOMES.labels(question.asker.platform, "unsupported").inc()
        return Notice("unsupported", UNSUPPORTED_ATTACHMENT, "")


def _thread_key(place: ChatPlace, audience: Audience) -> str:
    """A thread's conversation per audience: a private reply never feeds a public one."""
    return f"{place.tenant}:{place.channel_id}:{place.thread_id or ''}:{audience}"
