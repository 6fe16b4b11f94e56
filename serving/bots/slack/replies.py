"""Posting an answer to Slack once: streamed by updates of one message, retried without
generating again, a failure shown in the thread with its reference."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from serving.bots.answering import BotAnswer, BotAnswerer, Notice
from serving.bots.chat import Question
from serving.bots.slack.directory import SlackDirectory
from serving.bots.slack.mrkdwn import answer_blocks, notice_blocks, streaming_blocks

log = structlog.get_logger(__name__)
UPDATE_EVERY_S = 1.0  # Slack allows about one chat.update per second per message


@dataclass
class _Stream:
    """The one message an answer is written into as it streams."""

    client: WebClient
    channel: str
    thread_ts: str | None
    ts: str | None = None
    last: float = field(default=0.0)

    def write(self, text: str) -> None:
        now = time.monotonic()
        if now - self.last < UPDATE_EVERY_S:
            return
        self.last = now
        blocks = streaming_blocks(text)
        try:
            if self.ts is None:
                posted = self.client.chat_postMessage(
                    channel=self.channel, thread_ts=self.thread_ts, text=text[:3000], blocks=blocks
                )
                self.ts = str(posted["ts"])
            else:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=text[:3000], blocks=blocks)
        except SlackApiError as exc:  # streaming is a courtesy; the final post is what counts
            log.warning("slack_stream_update_failed", error=exc.response.get("error"))


class SlackReplies:
    """Answers one question and posts the outcome where Slack should show it."""

    def __init__(self, answerer: BotAnswerer, client: WebClient) -> None:
        self._answerer = answerer
        self._client = client

    def answer(self, question: Question, directory: SlackDirectory, ephemeral: bool = False) -> None:
        """Answer `question` in its thread (or only to the asker, `ephemeral`), exactly once."""
        place = question.place
        stream = None if ephemeral else _Stream(self._client, place.channel_id, place.thread_id)
        outcome = self._answerer.answer(question, directory, stream.write if stream else None)
        if isinstance(outcome, Notice) and outcome.kind == "duplicate":
            self._repost(question, ephemeral)
            return
        self._post(question, outcome, stream, ephemeral)

    def _repost(self, question: Question, ephemeral: bool) -> None:
        """A retried event whose answer was generated but never posted: post the stored one."""
        if self._answerer.message_ref("slack", question.event_key) is not None:
            return
        stored = self._answerer.stored("slack", question.event_key)
        if stored is not None:
            self._post(question, stored, None, ephemeral)

    def _post(
        self, question: Question, outcome: BotAnswer | Notice, stream: _Stream | None, ephemeral: bool
    ) -> None:
        place = question.place
        if isinstance(outcome, BotAnswer):
            text, blocks = outcome.text[:3000], answer_blocks(outcome, private=ephemeral)
        else:
            text, blocks = outcome.text, notice_blocks(outcome)
        for attempt in (1, 2):
            try:
                if ephemeral:
                    sent = self._client.chat_postEphemeral(
                        channel=place.channel_id,
                        user=question.asker.external_id,
                        thread_ts=place.thread_id,
                        text=text,
                        blocks=blocks,
                    )
                    ref = f"{place.channel_id}:ephemeral:{sent.get('message_ts', '')}"
                elif stream is not None and stream.ts is not None:
                    self._client.chat_update(channel=place.channel_id, ts=stream.ts, text=text, blocks=blocks)
                    ref = f"{place.channel_id}:{stream.ts}"
                else:
                    sent = self._client.chat_postMessage(
                        channel=place.channel_id, thread_ts=place.thread_id, text=text, blocks=blocks
                    )
                    ref = f"{place.channel_id}:{sent['ts']}"
                if isinstance(outcome, BotAnswer):
                    self._answerer.posted("slack", question.event_key, ref)
                return
            except SlackApiError as exc:
                log.warning(
                    "slack_post_failed",
                    attempt=attempt,
                    error=exc.response.get("error"),
                    correlation_id=getattr(outcome, "correlation_id", ""),
                )
                time.sleep(1.0)
        log.error("slack_post_gave_up", event_key=question.event_key)
