"""The Slack app on Bolt: mentions, direct messages, `/sillok`, the message shortcut, buttons
and membership changes, each turned into the bots' vocabulary and answered by the core.

Bolt verifies every HTTP request's signature and timestamp (older than 5 minutes is refused)
and acknowledges before a listener runs, inside Slack's 3 s; the answer runs on Bolt's bounded
listener pool. Retried deliveries carry the same event id and are answered once by the core.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from slack_bolt import Ack, App, BoltResponse
from slack_sdk import WebClient

from serving.bots.answering import Notice
from serving.bots.bootstrap import BotServices
from serving.bots.chat import ChatPlace, ChatUser, PlaceKind, Question
from serving.bots.metrics import EVENTS
from serving.bots.slack.directory import SlackDirectory
from serving.bots.slack.mrkdwn import FEEDBACK_DOWN, FEEDBACK_UP, SHARE, answer_blocks, notice_blocks
from serving.bots.slack.replies import SlackReplies

log = structlog.get_logger(__name__)
SHORTCUT = "sillok_ask"
_MENTION = re.compile(r"<@[A-Z0-9]+>")
_PRIVATE = re.compile(r"^\s*(private|비공개)\s+", re.IGNORECASE)


def _kind(channel_id: str, channel_type: str | None) -> PlaceKind:
    if channel_type == "im" or channel_id.startswith("D"):
        return "direct"
    return "group" if channel_type == "mpim" else "channel"


def build_app(services: BotServices) -> App:
    """The Bolt app, its Web API client pointed at `slack.api_base_url` when set."""
    slack = services.settings.slack
    assert slack.bot_token is not None  # the settings refuse a Slack bot without one
    token = slack.bot_token.get_secret_value()
    client = WebClient(token=token, base_url=slack.api_base_url or WebClient.BASE_URL)
    app = App(
        token=token,
        client=client,
        signing_secret=slack.signing_secret.get_secret_value() if slack.signing_secret else None,
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="slack-answer"),
        request_verification_enabled=slack.signing_secret is not None,
    )
    identity = client.auth_test()
    directory = SlackDirectory(client, str(identity["team_id"]), str(identity.get("user_id") or ""))
    replies = SlackReplies(services.answerer, client)
    answerer = services.answerer

    def question(
        body: dict[str, Any],
        channel: str,
        user: str,
        text: str,
        thread: str | None,
        channel_type: str | None,
        key: str,
        private: bool = False,
    ) -> Question:
        team = str(body.get("team_id") or (body.get("team") or {}).get("id") or identity["team_id"])
        place = ChatPlace("slack", team, channel, _kind(channel, channel_type), thread)
        cleaned = _MENTION.sub("", text).strip()
        if _PRIVATE.match(cleaned):
            cleaned, private = _PRIVATE.sub("", cleaned, count=1), True
        return Question(ChatUser("slack", team, user), place, cleaned, key, private)

    def ask(q: Question, files: bool = False, ephemeral: bool = False) -> None:
        if files:
            notice = answerer.unsupported_attachment(q)
            client.chat_postMessage(
                channel=q.place.channel_id,
                thread_ts=q.place.thread_id,
                text=notice.text,
                blocks=notice_blocks(notice),
            )
            return
        if q.text:
            replies.answer(q, directory, ephemeral=ephemeral or q.private)

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        EVENTS.labels("slack", "mention").inc()
        thread = event.get("thread_ts") or event["ts"]
        q = question(
            body,
            event["channel"],
            event["user"],
            event.get("text", ""),
            thread,
            event.get("channel_type"),
            str(body["event_id"]),
        )
        ask(q, files=bool(event.get("files")))

    @app.event("message")
    def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        if (
            event.get("channel_type") != "im"
            or event.get("bot_id")
            or event.get("subtype") not in (None, "file_share")
        ):
            return
        EVENTS.labels("slack", "message").inc()
        q = question(
            body,
            event["channel"],
            event["user"],
            event.get("text", ""),
            event.get("thread_ts"),
            "im",
            str(body["event_id"]),
        )
        ask(q, files=bool(event.get("files")))

    @app.event("member_joined_channel")
    @app.event("member_left_channel")
    def on_membership(body: dict[str, Any], event: dict[str, Any]) -> None:
        EVENTS.labels("slack", "membership").inc()
        team = str(body.get("team_id") or identity["team_id"])
        answerer.forget_members(ChatPlace("slack", team, event["channel"], "channel"))

    @app.command("/sillok")
    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        EVENTS.labels("slack", "command").inc()
        q = question(
            body,
            body["channel_id"],
            body["user_id"],
            body.get("text", ""),
            None,
            None,
            f"command:{body['trigger_id']}",
        )
        ask(q)

    @app.shortcut(SHORTCUT)
    def on_shortcut(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        EVENTS.labels("slack", "shortcut").inc()
        message = body.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts")
        q = question(
            body,
            body["channel"]["id"],
            body["user"]["id"],
            message.get("text", ""),
            thread,
            None,
            f"shortcut:{body['trigger_id']}",
            private=True,
        )
        ask(q, ephemeral=True)

    @app.action(FEEDBACK_UP)
    @app.action(FEEDBACK_DOWN)
    def on_feedback(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        EVENTS.labels("slack", "action").inc()
        user = ChatUser("slack", str(body["user"].get("team_id") or identity["team_id"]), body["user"]["id"])
        rating = 1 if action["action_id"] == FEEDBACK_UP else -1
        answerer.feedback(user, int(action["value"]), rating, directory)

    @app.action(SHARE)
    def on_share(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        EVENTS.labels("slack", "action").inc()
        team = str(body["user"].get("team_id") or identity["team_id"])
        channel = body["channel"]["id"]
        place = ChatPlace("slack", team, channel, _kind(channel, None))
        sharer = ChatUser("slack", team, body["user"]["id"])
        shared = answerer.share(sharer, int(action["value"]), place, directory)
        if isinstance(shared, Notice):
            client.chat_postEphemeral(
                channel=channel, user=sharer.external_id, text=shared.text, blocks=notice_blocks(shared)
            )
            return
        client.chat_postMessage(
            channel=channel, text=shared.text[:3000], blocks=answer_blocks(shared, private=False)
        )

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        log.error("slack_listener_failed", error=type(error).__name__)
        return None

    return app
