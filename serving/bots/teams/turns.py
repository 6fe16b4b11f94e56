"""What the Teams bot does with an activity, off the HTTP request, in a bounded worker pool.

Messages become `Question`s (mention text stripped; "private" asks for a 1:1 reply with the
asker's own permissions), card actions become feedback or shares, membership changes drop the
cached roster, shared files get the core's "not supported" notice. Each answer is posted once
into one activity, updated (PUT) as it streams; a retried activity whose answer was stored but
never posted gets that stored answer, not a new one.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import structlog
from microsoft_agents.activity import Activity, ChannelAccount

from serving.bots.answering import BotAnswer, BotAnswerer, Notice
from serving.bots.chat import ChatPlace, ChatUser, PlaceKind, Question
from serving.bots.metrics import EVENTS
from serving.bots.teams.cards import answer_card, attachment, notice_text, streaming_card
from serving.bots.teams.connector import Connector
from serving.bots.teams.directory import TeamsDirectory

log = structlog.get_logger(__name__)
UPDATE_EVERY_S = 1.5  # Teams throttles edits of one message; a few per second is already too many
WORKERS = 4
QUEUE = 64  # activities waiting for a worker; beyond it the channel is told to retry later
_KINDS: dict[str, PlaceKind] = {"personal": "direct", "groupChat": "group", "channel": "channel"}
_PRIVATE = re.compile(r"^\s*private\b[:,]?\s*", re.IGNORECASE)
_MENTION = re.compile(r"<at>[^<]*</at>")
_FILE_TYPES = ("application/vnd.microsoft.teams.file.download.info", "application/vnd.microsoft.teams.file")


class Busy(Exception):
    """Every worker is busy and the queue is full."""


def tenant_of(activity: Activity) -> str:
    """The activity's Entra tenant id."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = (data.get("tenant") or {}).get("id") or activity.conversation.tenant_id
    return str(tenant or "")


def place_of(activity: Activity) -> ChatPlace:
    """Where the activity was said: the conversation without its reply chain, and the chain."""
    conversation = activity.conversation
    base, _, chain = conversation.id.partition(";messageid=")
    kind = _KINDS.get(conversation.conversation_type or "personal", "group")
    return ChatPlace("teams", tenant_of(activity), base, kind, chain or None)


def asker_of(activity: Activity) -> ChatUser:
    """The activity's sender, by Entra object id (the channel id when there is none)."""
    sender = activity.from_property
    return ChatUser("teams", tenant_of(activity), sender.aad_object_id or sender.id)


def question_text(activity: Activity) -> str:
    """The message text without the bot's @mention markup."""
    return " ".join(_MENTION.sub(" ", activity.text or "").split())


def has_files(activity: Activity) -> bool:
    """Whether the user shared a file with the message (not the HTML copy Teams adds)."""
    for item in activity.attachments or []:
        kind = item.content_type or ""
        if kind.startswith(_FILE_TYPES) or (item.content_url and not kind.startswith("text/html")):
            return True
    return False


@dataclass
class _Post:
    """The one activity an outcome is written into, posted at most once."""

    connector: Connector
    service_url: str
    conversation_id: str
    bot: ChannelAccount | None
    reply_to: str | None
    activity_id: str | None = None
    last: float = field(default=0.0)

    def _activity(self, card: dict[str, Any] | None = None, text: str | None = None) -> Activity:
        fields: dict[str, Any] = {
            "type": "message",
            "channelId": "msteams",
            "conversation": {"id": self.conversation_id},
        }
        if self.bot is not None:
            fields["from"] = self.bot.model_dump(by_alias=True, exclude_none=True)
        if self.reply_to:
            fields["replyToId"] = self.reply_to
        if text:
            fields["text"] = text
        if card:
            fields["attachments"] = [attachment(card)]
        return Activity.model_validate(fields)

    def write(self, card: dict[str, Any] | None = None, text: str | None = None) -> str:
        activity = self._activity(card, text)
        if self.activity_id is None:
            self.activity_id = self.connector.send(self.service_url, self.conversation_id, activity)
        else:
            self.connector.update(self.service_url, self.conversation_id, self.activity_id, activity)
        return self.activity_id

    def stream(self, text: str) -> None:
        now = time.monotonic()
        if now - self.last < UPDATE_EVERY_S:
            return
        self.last = now
        try:
            self.write(streaming_card(text))
        except Exception as exc:  # streaming is a courtesy; the final write is what counts
            log.warning("teams_stream_update_failed", error=type(exc).__name__)


class TeamsTurns:
    """Handles Teams activities in worker threads, replying through the connector."""

    def __init__(self, answerer: BotAnswerer, connector: Connector) -> None:
        self._answerer = answerer
        self._connector = connector
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="teams")
        self._slots = threading.BoundedSemaphore(QUEUE)
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, activity: Activity) -> None:
        """Queue `activity` for a worker; raises `Busy` when the queue is full."""
        if not self._slots.acquire(blocking=False):
            raise Busy()
        self._pool.submit(self._run, activity)

    def _run(self, activity: Activity) -> None:
        try:
            self.handle(activity)
        except Exception:  # a worker never dies of one activity; it is logged with its id
            log.exception("teams_activity_failed", activity_id=activity.id)
        finally:
            self._slots.release()

    def handle(self, activity: Activity) -> None:
        """Act on one activity (synchronously; `submit` runs this in a worker)."""
        if activity.type == "conversationUpdate":
            if activity.members_added or activity.members_removed:
                EVENTS.labels("teams", "membership").inc()
                self._answerer.forget_members(place_of(activity))
            return
        if activity.type == "invoke" and activity.name == "adaptiveCard/action":
            value = activity.value if isinstance(activity.value, dict) else {}
            self._action(activity, (value.get("action") or {}).get("data") or {})
            return
        if activity.type != "message":
            return
        if isinstance(activity.value, dict) and "sillok" in activity.value:
            self._action(activity, activity.value)
            return
        self._message(activity)

    def _directory(self, activity: Activity, conversation_id: str) -> TeamsDirectory:
        return TeamsDirectory(
            self._connector, activity.service_url or "", conversation_id, tenant_of(activity)
        )

    def _message(self, activity: Activity) -> None:
        place = place_of(activity)
        EVENTS.labels("teams", "message" if place.kind == "direct" else "mention").inc()
        text = question_text(activity)
        private = place.kind != "direct" and bool(_PRIVATE.match(text))
        if private:
            text = _PRIVATE.sub("", text, count=1)
        question = Question(asker_of(activity), place, text, str(activity.id), private=private)
        if has_files(activity):
            self._deliver(activity, question, self._answerer.unsupported_attachment(question), private)
            return
        if not text:
            return
        with self._lock:
            if question.event_key in self._in_flight:
                EVENTS.labels("teams", "retry").inc()
                return
            self._in_flight.add(question.event_key)
        try:
            self._answer(activity, question, private)
        finally:
            with self._lock:
                self._in_flight.discard(question.event_key)

    def _answer(self, activity: Activity, question: Question, private: bool) -> None:
        post = self._target(activity, private)
        directory = self._directory(activity, question.place.channel_id)
        outcome = self._answerer.answer(question, directory, on_text=None if private else post.stream)
        if isinstance(outcome, Notice) and outcome.kind == "duplicate":
            self._repost(activity, question, private)
            return
        self._deliver(activity, question, outcome, private, post)

    def _target(self, activity: Activity, private: bool) -> _Post:
        """Where a reply goes: the conversation (its reply chain), or the asker's 1:1 chat."""
        service_url = activity.service_url or ""
        if private:
            chat = self._connector.personal_chat(
                service_url, tenant_of(activity), activity.recipient, activity.from_property.id
            )
            return _Post(self._connector, service_url, chat, activity.recipient, None)
        return _Post(self._connector, service_url, activity.conversation.id, activity.recipient, activity.id)

    def _deliver(
        self,
        activity: Activity,
        question: Question,
        outcome: BotAnswer | Notice,
        private: bool,
        post: _Post | None = None,
    ) -> None:
        post = post or self._target(activity, private)
        if isinstance(outcome, Notice):
            if outcome.text:
                post.write(text=notice_text(outcome))
            return
        share_to = question.place.channel_id if private else None
        card = answer_card(outcome, share_to=share_to)
        if post.activity_id is None:
            post.activity_id = self._answerer.message_ref("teams", question.event_key)
        activity_id = post.write(card, text=None)
        self._answerer.posted("teams", question.event_key, activity_id)

    def _repost(self, activity: Activity, question: Question, private: bool) -> None:
        """A retried activity: post its stored answer if the first delivery never got it out."""
        stored = self._answerer.stored("teams", question.event_key)
        if stored is None or self._answerer.message_ref("teams", question.event_key) is not None:
            return
        log.info("teams_repost_stored_answer", activity_id=activity.id)
        self._deliver(activity, question, stored, private)

    def _action(self, activity: Activity, data: dict[str, Any]) -> None:
        EVENTS.labels("teams", "action").inc()
        user = asker_of(activity)
        try:
            message_id = int(data.get("message_id", 0))
        except (TypeError, ValueError):
            return
        directory = self._directory(activity, place_of(activity).channel_id)
        if data.get("sillok") == "feedback":
            rating = 1 if data.get("rating") == 1 else -1
            self._answerer.feedback(user, message_id, rating, directory)
            return
        if data.get("sillok") == "share" and isinstance(data.get("place"), str):
            self._share(activity, user, message_id, str(data["place"]))

    def _share(self, activity: Activity, user: ChatUser, message_id: int, target: str) -> None:
        service_url = activity.service_url or ""
        channel = self._directory(activity, target)
        # never "direct": a shared answer is heard by every member of the target
        place = ChatPlace("teams", tenant_of(activity), target, "channel")
        members = channel.members_of(place, 10_000) or []
        here = _Post(self._connector, service_url, activity.conversation.id, activity.recipient, None)
        if user not in members:  # only a member shares into a conversation
            here.write(text="I can only share into a conversation you are in.")
            return
        outcome = self._answerer.share(user, message_id, place, channel)
        if isinstance(outcome, Notice):
            here.write(text=notice_text(outcome))
            return
        _Post(self._connector, service_url, target, activity.recipient, None).write(answer_card(outcome))

    def close(self) -> None:
        """Finish queued activities and stop."""
        self._pool.shutdown(wait=True)
        self._connector.close()
