"""The Slack bot end to end: signed requests into `POST /slack/events` (Bolt, real SDK),
answers by the product's core, and exactly what reaches a local server playing Slack's Web API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE
from core.settings import LimitSettings, Settings
from serving.bots.bootstrap import BotServices, build_bots
from serving.bots.server import create_bots_app
from serving.worker.bootstrap import build_worker
from tests.servers.slack_api import BOT_USER, TEAM, Workspace, slack_api

pytestmark = pytest.mark.e2e
SECRET = "test-signing-secret-0123456789"
WEB = "https://sillok.example.com"
DOCS = {
    "canteen": ("The canteen serves bibimbap every Tuesday at noon.", Acl.of(public=True)),
    "payroll": ("Salaries are paid on June 25. Payroll closes on June 20.", Acl.of(groups=["finance"])),
}


class Bot:
    def __init__(
        self, client: TestClient, workspace: Workspace, services: BotServices, ids: dict[str, str]
    ) -> None:
        self.client, self.workspace, self.services, self.ids = client, workspace, services, ids

    def send(
        self, body: str, content_type: str, ts: str | None = None, secret: str = SECRET, retry: int = 0
    ) -> int:
        ts = ts or str(int(time.time()))
        signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
            "Content-Type": content_type,
        }
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.client.post("/slack/events", content=body, headers=headers).status_code

    def event(self, event: dict[str, Any], event_id: str, **kw: Any) -> int:
        envelope = {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
        return self.send(json.dumps(envelope), "application/json", **kw)

    def mention(self, user: str, channel: str, text: str, event_id: str, **kw: Any) -> int:
        event = {
            "type": "app_mention",
            "user": user,
            "channel": channel,
            "text": f"<@{BOT_USER}> {text}",
            "ts": f"1700000001.{event_id[-4:]}",
        }
        return self.event(event, event_id, **kw)

    def form(self, fields: dict[str, str]) -> int:
        return self.send(urlencode(fields), "application/x-www-form-urlencoded")

    def action(self, user: str, channel: str, action_id: str, value: str) -> int:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM},
            "channel": {"id": channel},
            "trigger_id": f"t-{time.time_ns()}",
            "api_app_id": "A1",
            "actions": [
                {"action_id": action_id, "value": value, "type": "button", "block_id": "b", "action_ts": "1"}
            ],
        }
        return self.form({"payload": json.dumps(payload)})


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    tmp = tmp_path_factory.mktemp("slack")
    workspace = Workspace()
    workspace.person("UALICE", "alice@example.com")
    workspace.person("UBOB", "bob@example.com")
    workspace.person("UCAROL", "carol@example.com")
    workspace.person("USTRANGER", "stranger@elsewhere.example")
    workspace.person(BOT_USER, None, is_bot=True)
    workspace.channels = {"CMIXED": ["UALICE", "UBOB", BOT_USER], "CFIN": ["UALICE", "UCAROL", BOT_USER]}
    with slack_api(workspace) as base:
        settings = Settings(
            data_dir=tmp / "data",
            embedding={"backend": "sentence-transformers"},
            limits=LimitSettings(user_per_minute=0, key_per_minute=0),
            slack={"bot_token": "xoxb-test-token", "signing_secret": SECRET, "api_base_url": base},
            bots={"web_url": WEB},
            log_level="WARNING",
        )
        services = build_bots(settings)
        worker = build_worker(shared=services)
        services.users.add_user("alice", email="alice@example.com", groups=["finance"])
        services.users.add_user("bob", email="bob@example.com")
        services.users.add_user("carol", email="carol@example.com", groups=["finance"])
        ids = {}
        for name, (text, acl) in DOCS.items():
            path = tmp / f"{name}.txt"
            path.write_text(text)
            reg = services.intake.submit(
                path, namespace=CONNECTOR_NAMESPACE, source=f"t:{name}", acl=acl, title=name
            )
            worker.pipeline.process(reg.document_id, reg.version)
            ids[name] = reg.document_id
        with TestClient(create_bots_app(services)) as client:
            yield Bot(client, workspace, services, ids)
        worker.close()
        services.close()


def final(bot: Bot, channel: str, count: int = 1) -> dict[str, Any]:
    """The last post or update in `channel` once `count` final answers (with buttons) are there."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [p for m, p in bot.workspace.posts() if p.get("channel") == channel and _finished(p)]
        if len(done) >= count:
            return done[-1]
        time.sleep(0.05)
    raise AssertionError(bot.workspace.posts())


def wait_for_text(bot: Bot, words: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for _, params in bot.workspace.posts():
            if words in params.get("text", ""):
                return params
        time.sleep(0.05)
    raise AssertionError(bot.workspace.posts())


def _finished(params: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in params.get("blocks") or []) or "writing" not in json.dumps(
        params.get("blocks") or []
    )


def test_a_channel_answer_cites_only_what_every_member_may_read(bot: Bot) -> None:
    assert bot.mention("UALICE", "CMIXED", "When are salaries paid?", "Ev0001") == 200
    post = final(bot, "CMIXED")
    text = json.dumps(post)
    assert bot.ids["payroll"] not in text and "June 25" not in text and "payroll" not in text.lower()
    assert post["blocks"][-2]["elements"][0]["text"] == (
        "ℹ️ The documents available here do not answer this. · answered from what everyone here may read"
    )
    (_, first), *_ = [c for c in bot.workspace.posts("chat.postMessage") if c[1]["channel"] == "CMIXED"]
    assert first["thread_ts"] == "1700000001.0001"

    assert bot.mention("UALICE", "CFIN", "When are salaries paid?", "Ev0002") == 200
    post = final(bot, "CFIN")
    blocks = post["blocks"]
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": blocks[0]["text"]["text"]}}
    assert "Salaries are paid on June 25" in blocks[0]["text"]["text"]
    link = f"{WEB}/api/v1/documents/{bot.ids['payroll']}/content"
    assert blocks[1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": f"[1] <{link}|payroll>"}]}
    assert blocks[2]["elements"][0]["text"].startswith("✅ Checked against its sources (")
    assert blocks[2]["elements"][0]["text"].endswith("· answered from what everyone here may read")
    assert [e["action_id"] for e in blocks[3]["elements"]] == ["sillok_feedback_up", "sillok_feedback_down"]


def test_a_direct_message_uses_the_askers_permissions_and_files_are_not_read(bot: Bot) -> None:
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "DALICE",
        "user": "UALICE",
        "text": "When are salaries paid?",
        "ts": "1700000002.0001",
    }
    assert bot.event(event, "Ev0101") == 200
    post = final(bot, "DALICE")
    assert bot.ids["payroll"] in json.dumps(post["blocks"])
    shared_file = {
        **event,
        "subtype": "file_share",
        "files": [{"id": "F1", "name": "q3.xlsx"}],
        "ts": "1700000002.0002",
    }
    assert bot.event(shared_file, "Ev0102") == 200
    notice = bot.workspace.wait(1, "chat.postMessage")
    assert any("I don't read files shared in chat" in p.get("text", "") for _, p in notice) or final(
        bot, "DALICE", 2
    )


def test_bad_signatures_and_stale_timestamps_are_refused_and_nothing_is_posted(bot: Bot) -> None:
    before = len(bot.workspace.posts())
    assert bot.mention("UALICE", "CFIN", "When are salaries paid?", "Ev0201", secret="wrong-secret") == 401
    stale = str(int(time.time()) - 400)
    assert bot.mention("UALICE", "CFIN", "When are salaries paid?", "Ev0202", ts=stale) == 401
    time.sleep(1.0)
    assert len(bot.workspace.posts()) == before


def test_a_retried_event_is_answered_once(bot: Bot) -> None:
    assert bot.mention("UCAROL", "CFIN", "What does the canteen serve?", "Ev0301") == 200
    assert bot.mention("UCAROL", "CFIN", "What does the canteen serve?", "Ev0301", retry=1) == 200
    assert bot.mention("UCAROL", "CFIN", "What does the canteen serve?", "Ev0301", retry=2) == 200
    time.sleep(2.0)
    threads = [
        p for _, p in bot.workspace.posts("chat.postMessage") if p.get("thread_ts") == "1700000001.0301"
    ]
    assert len(threads) == 1


def test_a_retry_after_a_failed_post_posts_the_stored_answer(bot: Bot) -> None:
    bot.workspace.fail["chat.postMessage"] = 10
    assert bot.mention("UCAROL", "CFIN", "What does the canteen serve?", "Ev0302") == 200
    deadline = time.monotonic() + 60
    while bot.workspace.fail["chat.postMessage"] > 8 and time.monotonic() < deadline:
        time.sleep(0.1)  # both posting attempts refused: the answer is stored, not posted
    time.sleep(1.5)
    bot.workspace.fail["chat.postMessage"] = 0
    before = len(bot.workspace.posts("chat.postMessage"))
    assert bot.mention("UCAROL", "CFIN", "What does the canteen serve?", "Ev0302", retry=1) == 200
    posted = bot.workspace.wait(before + 1, "chat.postMessage")[before:]
    threads = [p for _, p in posted if p.get("thread_ts") == "1700000001.0302"]
    assert len(threads) == 1
    assert "The canteen serves" in str(threads[0]["blocks"])
    assert "sillok_feedback_up" in str(threads[0]["blocks"])


def test_a_private_answer_is_ephemeral_and_sharing_rechecks_the_channel(bot: Bot) -> None:
    fields = {
        "command": "/sillok",
        "text": "private When are salaries paid?",
        "team_id": TEAM,
        "channel_id": "CMIXED",
        "user_id": "UALICE",
        "trigger_id": "trig-401",
        "response_url": "http://x",
    }
    assert bot.form(fields) == 200
    ((_, private),) = bot.workspace.wait(1, "chat.postEphemeral")
    assert private["user"] == "UALICE" and bot.ids["payroll"] in json.dumps(private["blocks"])
    buttons = private["blocks"][-1]["elements"]
    share = next(b for b in buttons if b["action_id"] == "sillok_share")
    before = len(bot.workspace.posts("chat.postMessage"))
    assert bot.action("UALICE", "CMIXED", "sillok_share", share["value"]) == 200
    refused = bot.workspace.wait(2, "chat.postEphemeral")[-1][1]
    assert "can't share this answer here" in refused["text"]
    assert len(bot.workspace.posts("chat.postMessage")) == before  # nothing went into the channel
    assert bot.action("UALICE", "CFIN", "sillok_share", share["value"]) == 200
    shared = bot.workspace.wait(before + 1, "chat.postMessage")[-1][1]
    assert shared["channel"] == "CFIN" and bot.ids["payroll"] in json.dumps(shared["blocks"])


def test_an_unknown_user_is_told_how_to_get_access(bot: Bot) -> None:
    assert bot.mention("USTRANGER", "CFIN", "When are salaries paid?", "Ev0501") == 200
    assert wait_for_text(bot, "don't know who you are")["thread_ts"] == "1700000001.0501"


def test_a_feedback_press_is_stored_for_the_askers_own_answer(bot: Bot) -> None:
    from serving.bots.metrics import EVENTS

    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "DCAROL",
        "user": "UCAROL",
        "text": "What does the canteen serve?",
        "ts": "1700000006.0001",
    }
    assert bot.event(event, "Ev0601") == 200
    post = final(bot, "DCAROL")
    up = next(e for e in post["blocks"][-1]["elements"] if e["action_id"] == "sillok_feedback_up")
    counter = EVENTS.labels("slack", "feedback")
    before = counter._value.get()
    assert bot.action("UCAROL", "DCAROL", "sillok_feedback_up", up["value"]) == 200
    deadline = time.monotonic() + 10
    while counter._value.get() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counter._value.get() == before + 1
