"""The randomized leak test, for the bots: what is posted where several people read it draws
only on documents every current member may read.

24 users in 8 groups, 300 documents with canaries and random ACLs (the documents, users and
marker check of `test_leaks`), 10 channels of 2 to 6 members (one with a member Sillok does not
know), direct messages and private replies. 150 random questions, shares of private answers
into random channels and random changes (ACLs, group memberships, channel joins and leaves,
user removals). Everything a bot posts is checked against who can see it: a channel post
against every member at that moment, a direct or private reply against the asker. The
expected number of leaks is exactly 0.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from core.acl import Acl
from core.bot_settings import SlackSettings, TeamsSettings
from core.types import point_id
from serving.bots.answering import BotAnswer, Notice
from serving.bots.bootstrap import BotServices, build_bots
from serving.bots.chat import ChatPlace, ChatUser, Question
from serving.bots.server import create_bots_app
from tests.e2e.test_leaks import MARKERS, TOPICS, Doc, load, settings_for
from tests.servers.bot_connector import BotConnector, Member, Recorded, bot_connector
from tests.servers.slack_api import Workspace, slack_api

pytestmark = pytest.mark.e2e

USERS, GROUPS, DOCUMENTS, CHANNELS = 24, 8, 300, 10
# The answering core takes the most questions; the platforms, each taking seconds a question,
# fewer of the same sequence (the same changes of membership and permissions come first).
QUESTIONS = {"core": 150, "slack": 60, "teams": 60}
TEAM = "T0SILLOK"  # the local Slack's workspace
TENANT = "72f988bf-0000-4000-8000-00000000leak"
SECRET = "leak-test-signing-secret-0123456789"


@dataclass
class Roster:
    """The test's chat platform: accounts, their emails, and channels' current members."""

    emails: dict[ChatUser, str]
    channels: dict[str, list[ChatUser]]

    def email_of(self, who: ChatUser) -> str | None:
        return self.emails.get(who)

    def members_of(self, place: ChatPlace, limit: int) -> list[ChatUser] | None:
        members = self.channels.get(place.channel_id)
        return None if members is None or len(members) > limit else list(members)


@dataclass
class Posted:
    """One thing a bot posted: who can see it ("channel" or one user) and its text."""

    channel: str
    visible_to: ChatUser | None  # None: every member of the channel
    body: str


@dataclass
class BotWorld:
    services: BotServices
    roster: Roster
    groups: dict[str, set[str]]
    docs: list[Doc]
    accounts: dict[str, ChatUser]
    removed: set[str] = field(default_factory=set)
    markers: dict[str, Doc] = field(default_factory=dict)
    posts: int = 0
    leaks: list[str] = field(default_factory=list)
    private_answers: list[tuple[ChatUser, int]] = field(default_factory=list)
    workspace: Workspace | None = None
    connector: BotConnector | None = None
    client: TestClient | None = None

    def sync_workspace(self) -> None:
        """Slack's and Teams' view of the channels is the roster's."""
        assert self.workspace is not None and self.connector is not None
        self.workspace.channels = {c: [m.external_id for m in ms] for c, ms in self.roster.channels.items()}
        rosters = {
            f"19:{c}@thread.tacv2": [member(m, self) for m in ms] for c, ms in self.roster.channels.items()
        }
        for account in [*self.accounts.values(), ChatUser("slack", TEAM, "USTRANGER")]:
            one = [member(account, self)]
            rosters |= {f"a:personal-{account.external_id}": one, f"a:1to1-29:{account.external_id}": one}
        self.connector.rosters.clear()
        self.connector.rosters.update(rosters)

    def user_of(self, who: ChatUser) -> str | None:
        name = self.roster.emails.get(who, "").split("@")[0]
        return name if name in self.groups and name not in self.removed else None

    def readable(self, who: ChatUser, doc: Doc) -> bool:
        user = self.user_of(who)
        if doc.deleted:
            return False
        if doc.acl.public:
            return True
        return user is not None and (user in doc.acl.users or bool(doc.acl.groups & self.groups[user]))

    def check(self, post: Posted, asker: ChatUser) -> None:
        self.posts += 1
        readers = [post.visible_to] if post.visible_to else self.roster.channels.get(post.channel, [asker])
        for marker in set(MARKERS.findall(post.body)):
            doc = self.markers.get(marker)
            if doc is None:
                continue
            blind = [r.external_id for r in readers if not self.readable(r, doc)]
            if blind:
                self.leaks.append(f"{post.channel}: {marker} of document {doc.n}, unreadable by {blind}")


Transport = Callable[[BotWorld, Question], list[Posted]]


def through_core(world: BotWorld, question: Question) -> list[Posted]:
    """The bots' core, with what it returns taken as what is posted."""
    outcome = world.services.answerer.answer(question, world.roster)
    if isinstance(outcome, Notice):
        return [Posted(question.place.channel_id, question.asker, outcome.text)] if outcome.text else []
    private = question.private or question.place.kind == "direct"
    if private and question.place.kind != "direct":
        world.private_answers.append((question.asker, outcome.message_id))
    body = json.dumps(outcome.as_dict())
    return [Posted(question.place.channel_id, question.asker if private else None, body)]


@pytest.fixture
def world(tmp_path: Path, postgres_url: str) -> Iterator[BotWorld]:
    rng = random.Random(20261202)
    workspace = Workspace()
    api = slack_api(workspace)
    base = api.__enter__()
    connecting = bot_connector()
    connector = connecting.__enter__()
    settings = settings_for(tmp_path, postgres_url).model_copy(
        update={
            "slack": SlackSettings(bot_token="xoxb-test-token", signing_secret=SECRET, api_base_url=base),
            "teams": TeamsSettings(anonymous=True, service_urls=[connector.url]),
        }
    )
    services = build_bots(settings)
    group_names = [f"g{i}" for i in range(GROUPS)]
    groups = {f"u{i:02d}": set(rng.sample(group_names, rng.randint(0, 3))) for i in range(USERS)}
    for user, member_of in groups.items():
        services.users.add_user(user, email=f"{user}@example.com", groups=member_of)
    accounts = {user: ChatUser("slack", TEAM, f"U{user.upper()}") for user in groups}
    stranger = ChatUser("slack", TEAM, "USTRANGER")
    emails = {account: f"{user}@example.com" for user, account in accounts.items()}
    everyone = sorted(accounts.values(), key=lambda a: a.external_id)
    channels = {f"C{c:02d}": rng.sample(everyone, rng.randint(2, 6)) for c in range(CHANNELS)}
    channels["C00"].append(stranger)
    docs = []
    for n in range(DOCUMENTS):
        roll = rng.random()
        acl = Acl.of(
            users=rng.sample(sorted(groups), rng.randint(0, 2)) if roll > 0.1 else [],
            groups=rng.sample(group_names, rng.randint(0, 2)) if roll > 0.1 else [],
            public=roll > 0.9,
        )
        tag = secrets.token_hex(4)
        docs.append(
            Doc(n, f"CANARY-{n:03d}-{tag}", f"TITLE-{n:03d}-{tag}", TOPICS[n % 10], f"P{n % 29}", acl)
        )
    load(services, docs, tmp_path / "docs")  # type: ignore[arg-type]
    state = BotWorld(
        services, Roster(emails, channels), groups, docs, accounts, workspace=workspace, connector=connector
    )
    for account, email in emails.items():
        workspace.person(account.external_id, email)
    workspace.person("USTRANGER", "stranger@elsewhere.example")
    state.sync_workspace()
    for doc in docs:
        for marker in (doc.canary, doc.title, doc.id, point_id(doc.id, doc.version, 0)):
            state.markers[marker] = doc
    with TestClient(create_bots_app(services)) as client:
        state.client = client
        yield state
    services.close()
    connecting.__exit__(None, None, None)
    api.__exit__(None, None, None)


def change_something(world: BotWorld, rng: random.Random) -> None:
    """One random ACL change, membership change, channel join or leave, or user removal."""
    services = world.services
    live = sorted(set(world.groups) - world.removed)
    kind = rng.choices(["acl", "groups", "join", "leave", "remove"], weights=[35, 25, 20, 15, 5])[0]
    if kind == "acl":
        doc = rng.choice([d for d in world.docs if not d.deleted])
        doc.acl = Acl.of(
            rng.sample(live, rng.randint(0, 2)), [f"g{rng.randrange(GROUPS)}"], rng.random() < 0.1
        )
        ids = services.users.ids_for(doc.acl.users).values()
        services.documents.set_acl(doc.id, Acl.of(ids, doc.acl.groups, doc.acl.public))
        services.index.set_acl(doc.id, Acl.of(ids, doc.acl.groups, doc.acl.public).tokens())
    elif kind == "groups":
        user = rng.choice(live)
        world.groups[user] = {f"g{i}" for i in rng.sample(range(GROUPS), rng.randint(0, 3))}
        services.users.set_groups(user, sorted(world.groups[user]))
    elif kind in ("join", "leave"):
        channel = rng.choice(sorted(world.roster.channels))
        members = world.roster.channels[channel]
        if kind == "join":
            members.append(world.accounts[rng.choice(live)])
        elif len(members) > 2:
            members.remove(rng.choice(members))
        world.sync_workspace()
        event = {
            "type": f"member_{'joined' if kind == 'join' else 'left'}_channel",
            "channel": channel,
            "user": "U",
        }
        assert send(world, "application/json", envelope(event, f"Em{secrets.token_hex(6)}")) == 200
    else:
        user = rng.choice(live)
        world.removed.add(user)
        services.users.remove_user(user)


def send(world: BotWorld, content_type: str, body: str) -> int:
    """A request to `POST /slack/events`, signed as Slack signs it."""
    assert world.client is not None
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}
    return world.client.post("/slack/events", content=body, headers=headers).status_code


def envelope(event: dict[str, object], event_id: str) -> str:
    return json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": event_id, "event": event})


def through_slack(world: BotWorld, question: Question) -> list[Posted]:
    """Signed events and commands into the Slack app; whatever reaches the Slack Web API out."""
    assert world.workspace is not None
    place, asker = question.place, question.asker.external_id
    start = len(world.workspace.calls)
    if place.kind == "direct":
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": place.channel_id,
            "user": asker,
            "text": question.text,
            "ts": f"{time.time():.6f}",
        }
        assert send(world, "application/json", envelope(event, question.event_key)) == 200
    elif question.private:
        fields = {
            "command": "/sillok",
            "text": f"private {question.text}",
            "team_id": TEAM,
            "user_id": asker,
            "channel_id": place.channel_id,
            "trigger_id": question.event_key,
            "response_url": "http://x",
        }
        assert send(world, "application/x-www-form-urlencoded", urlencode(fields)) == 200
    else:
        event = {
            "type": "app_mention",
            "channel": place.channel_id,
            "user": asker,
            "text": f"<@UBOT> {question.text}",
            "ts": place.thread_id,
        }
        assert send(world, "application/json", envelope(event, question.event_key)) == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with world.workspace.lock:
            new = [(m, p) for m, p in world.workspace.calls[start:] if m.startswith("chat.")]
        if any("writing" not in json.dumps(p.get("blocks") or []) for _, p in new):
            break
        time.sleep(0.05)
    posts = []
    for method, params in new:
        visible = question.asker if method == "chat.postEphemeral" or place.kind == "direct" else None
        posts.append(Posted(place.channel_id, visible, json.dumps(params)))
        if method == "chat.postEphemeral":
            for block in params.get("blocks") or []:
                for element in block.get("elements", []):
                    if element.get("action_id") == "sillok_share":
                        world.private_answers.append((question.asker, int(element["value"])))
    return posts


def member(account: ChatUser, world: BotWorld) -> Member:
    """The Teams side of a test account (same person, same email)."""
    email = world.roster.emails.get(account) or "stranger@elsewhere.example"
    return Member(f"29:{account.external_id}", f"aad-{account.external_id}", email, account.external_id)


def teams_activity(
    world: BotWorld, conversation: str, kind: str, who: ChatUser, text: str, key: str, **extra: object
) -> dict[str, object]:
    assert world.connector is not None
    return {
        "type": "message",
        "id": key,
        "channelId": "msteams",
        "serviceUrl": world.connector.url,
        "from": {
            "id": f"29:{who.external_id}",
            "aadObjectId": f"aad-{who.external_id}",
            "name": who.external_id,
        },
        "recipient": {"id": "28:sillok", "name": "Sillok"},
        "conversation": {"id": conversation, "conversationType": kind, "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
        **extra,
    }


def settled(world: BotWorld, start: int, quiet_s: float = 0.6, timeout_s: float = 60.0) -> list[Recorded]:
    """What the Teams bot posted after `start` once nothing new came for `quiet_s`."""
    assert world.connector is not None
    deadline, seen, since = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(world.connector.posted)
        if now != seen:
            seen, since = now, time.monotonic()
        elif now > start and time.monotonic() - since > quiet_s:
            break
        time.sleep(0.05)
    return list(world.connector.posted[start:])


def through_teams(world: BotWorld, question: Question) -> list[Posted]:
    """Activities into `POST /api/messages`; every post and update at the Bot Connector out."""
    assert world.client is not None and world.connector is not None
    place, asker = question.place, question.asker
    start = len(world.connector.posted)
    if place.kind == "direct":
        activity = teams_activity(
            world, f"a:personal-{asker.external_id}", "personal", asker, question.text, question.event_key
        )
    else:
        prefix = "private " if question.private else ""
        activity = teams_activity(
            world,
            f"19:{place.channel_id}@thread.tacv2",
            "channel",
            asker,
            f"<at>Sillok</at> {prefix}{question.text}",
            question.event_key,
        )
    assert world.client.post("/api/messages", json=activity).status_code == 202
    posts = []
    for recorded in settled(world, start):
        in_channel = place.kind != "direct" and recorded.conversation.startswith(f"19:{place.channel_id}@")
        posts.append(Posted(place.channel_id, None if in_channel else asker, json.dumps(recorded.body)))
        text = json.dumps(recorded.body)
        if not in_channel and '"share"' in text:
            for found in re.finditer(r'"message_id": (\d+)', text):
                world.private_answers.append((asker, int(found.group(1))))
    return posts


def share_through_teams(world: BotWorld, sharer: ChatUser, message_id: int, channel: str) -> list[Posted]:
    """ "Share in channel" pressed on a private answer in the sharer's 1:1 chat."""
    assert world.client is not None and world.connector is not None
    start = len(world.connector.posted)
    conversation = f"19:{channel}@thread.tacv2"
    value = {"sillok": "share", "message_id": message_id, "place": conversation}
    press = teams_activity(
        world,
        f"a:1to1-29:{sharer.external_id}",
        "personal",
        sharer,
        "",
        f"share-{secrets.token_hex(6)}",
        value=value,
    )
    assert world.client.post("/api/messages", json=press).status_code == 202
    return [
        Posted(channel, None if r.conversation.startswith(conversation) else sharer, json.dumps(r.body))
        for r in settled(world, start, timeout_s=20)
    ]


def share_through_slack(world: BotWorld, sharer: ChatUser, message_id: int, channel: str) -> list[Posted]:
    """The "Share in channel" button pressed in `channel`; what Slack was then asked to show."""
    assert world.workspace is not None
    start = len(world.workspace.calls)
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": sharer.external_id, "team_id": TEAM},
        "channel": {"id": channel},
        "trigger_id": secrets.token_hex(6),
        "api_app_id": "A1",
        "actions": [
            {
                "action_id": "sillok_share",
                "value": str(message_id),
                "type": "button",
                "block_id": "b",
                "action_ts": "1",
            }
        ],
    }
    assert (
        send(world, "application/x-www-form-urlencoded", urlencode({"payload": json.dumps(payload)})) == 200
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(world.workspace.calls) == start:
        time.sleep(0.05)
    with world.workspace.lock:
        new = world.workspace.calls[start:]
    return [Posted(channel, sharer if m == "chat.postEphemeral" else None, json.dumps(p)) for m, p in new]


def run(world: BotWorld, transport: Transport, questions: int) -> None:
    rng = random.Random(11)
    for i in range(questions):
        if i % 3 == 0:
            change_something(world, rng)
        channel = rng.choice(sorted(world.roster.channels))
        members = [m for m in world.roster.channels[channel] if m.external_id != "USTRANGER"]
        asker = rng.choice(members)
        target = rng.choice(world.docs)
        text = f"{target.topic} plan project {target.project}"
        roll = rng.random()
        where = ChatPlace("slack", TEAM, channel, "channel", f"17{i}.0")
        if roll < 0.2:
            where = ChatPlace("slack", TEAM, f"D{asker.external_id}", "direct")
        question = Question(asker, where, text, f"Ev{i:04d}", private=0.2 <= roll < 0.35)
        for post in transport(world, question):
            world.check(post, asker)
        if world.private_answers and rng.random() < 0.3:
            sharer, message_id = rng.choice(world.private_answers)
            into = ChatPlace("slack", TEAM, rng.choice(sorted(world.roster.channels)), "channel")
            sharing = {through_slack: share_through_slack, through_teams: share_through_teams}.get(transport)
            if sharing is not None:
                for post in sharing(world, sharer, message_id, into.channel_id):
                    world.check(post, sharer)
                continue
            shared = world.services.answerer.share(sharer, message_id, into, world.roster)
            if isinstance(shared, BotAnswer):
                world.check(Posted(into.channel_id, None, json.dumps(shared.as_dict())), sharer)
    print(f"posts={world.posts} removed={len(world.removed)} leaks={len(world.leaks)}")


@pytest.mark.parametrize(
    ("transport", "questions"),
    [(through_core, QUESTIONS["core"]), (through_slack, QUESTIONS["slack"]),
     (through_teams, QUESTIONS["teams"])],
    ids=list(QUESTIONS),
)  # fmt: skip
def test_no_bot_post_shows_a_passage_title_or_link_a_reader_may_not_read(
    world: BotWorld, transport: Transport, questions: int
) -> None:
    run(world, transport, questions)
    assert world.posts >= questions // 2
    assert world.leaks == [], "\n".join(world.leaks[:40])
