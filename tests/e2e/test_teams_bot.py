"""The Teams bot end to end: activities into `POST /api/messages`, cards out at a local Bot
Connector, answered by the product (documents ingested through intake and the worker pipeline,
the ACL filter inside Qdrant Edge, bindings and deliveries in SQL).

Replies run in anonymous mode (no outgoing token to fetch); the incoming-token tests run in
strict mode against a local RS256 key published as OpenID metadata and a JWKS.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.acl import Acl
from core.db.models import Feedback
from core.documents import CONNECTOR_NAMESPACE
from core.settings import LimitSettings, Settings
from serving.bots.answering import UNKNOWN_USER, UNSUPPORTED_ATTACHMENT
from serving.bots.bootstrap import BotServices, build_bots
from serving.bots.server import create_bots_app
from serving.bots.teams import router as teams_router
from serving.bots.teams.cards import CARD_CONTENT_TYPE, answer_card
from serving.worker.bootstrap import build_worker
from tests.servers.bot_connector import BotConnector, Member, Recorded, bot_connector

pytestmark = pytest.mark.e2e

TENANT = "72f988bf-0000-4000-8000-000000000001"
APP_ID = "9f4b1c2e-1111-4222-8333-444455556666"
WEB = "https://sillok.example.com"
DOCS = {
    "canteen": ("The canteen serves bibimbap every Tuesday at noon.", Acl.of(public=True)),
    "payroll": ("Salaries are paid on June 25. Payroll closes on June 20.", Acl.of(groups=["finance"])),
}
ALICE = Member("29:alice", "aad-alice", "alice@example.com", "Alice")
BOB = Member("29:bob", "aad-bob", "bob@example.com", "Bob")
CAROL = Member("29:carol", "aad-carol", "carol@example.com", "Carol")
STRANGER = Member("29:stranger", "aad-stranger", "stranger@elsewhere.example", "Stranger")
PERSONAL, MIXED, FINANCE = "a:personal-alice", "19:mixed@thread.tacv2", "19:finance@thread.tacv2"
GROUP = "19:group-alice-bob@thread.v2"
SALARIES = "<at>Sillok</at> When are salaries paid?"


def settings(tmp: Path, **teams: Any) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        bots={"web_url": WEB},
        teams=teams,
        embedding={"backend": "sentence-transformers"},
        log_level="WARNING",
    )


@dataclass
class Teams:
    services: BotServices
    connector: BotConnector
    client: TestClient
    ids: dict[str, str]

    def activity(
        self, conversation: str, kind: str, sender: Member, text: str, activity_id: str, **extra: Any
    ) -> dict[str, Any]:
        return {
            "type": "message",
            "id": activity_id,
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": sender.id, "aadObjectId": sender.aad_object_id, "name": sender.name},
            "recipient": {"id": "28:" + APP_ID, "name": "Sillok"},
            "conversation": {"id": conversation, "conversationType": kind, "tenantId": TENANT},
            "channelData": {"tenant": {"id": TENANT}},
            "text": text,
            **extra,
        }

    def send(self, activity: dict[str, Any], **headers: str) -> int:
        return self.client.post("/api/messages", json=activity, headers=headers).status_code

    def settled(self, quiet_s: float = 1.5, timeout: float = 90.0) -> list[Recorded]:
        """What was posted once nothing new came for `quiet_s` (the workers are done)."""
        deadline, seen, since = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < deadline:
            now = len(self.connector.posted)
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since > quiet_s:
                break
            time.sleep(0.1)
        return list(self.connector.posted)


def build(tmp: Path, connector: BotConnector, **teams: Any) -> tuple[BotServices, dict[str, str]]:
    services = build_bots(settings(tmp, **teams))
    worker = build_worker(shared=services)
    services.users.add_user("alice", email="Alice@Example.com", groups=["finance"])
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
    worker.close()
    connector.rosters.update(
        {
            PERSONAL: [ALICE],
            MIXED: [ALICE, BOB],
            FINANCE: [ALICE, CAROL],
            "a:1to1-29:alice": [ALICE],
            "a:personal-stranger": [STRANGER],
            GROUP: [ALICE, BOB],
        }
    )
    return services, ids


@pytest.fixture
def teams(tmp_path: Path) -> Iterator[Teams]:
    with bot_connector() as connector:
        services, ids = build(tmp_path, connector, anonymous=True, service_urls=[connector.url])
        app: FastAPI = create_bots_app(services)
        app.include_router(teams_router(services))
        with TestClient(app) as client:
            yield Teams(services, connector, client, ids)
        services.close()


def cards(posts: list[Recorded], conversation: str) -> list[dict[str, Any]]:
    return [
        a["content"]
        for p in posts
        if p.conversation.split(";")[0] == conversation
        for a in p.body.get("attachments") or []
        if a["contentType"] == CARD_CONTENT_TYPE
    ]


def final_card(posts: list[Recorded], conversation: str) -> dict[str, Any]:
    mine = cards(posts, conversation)
    assert mine, f"nothing posted in {conversation}: {posts}"
    return mine[-1]


def test_personal_chat_answers_with_the_askers_permissions_in_an_exact_card(teams: Teams) -> None:
    assert teams.send(teams.activity(PERSONAL, "personal", ALICE, "When are salaries paid?", "a1")) == 202
    posts = teams.settled()
    assert [p.method for p in posts if p.conversation == PERSONAL].count("POST") == 1  # posted once
    stored = teams.services.answerer.stored("teams", "a1")
    assert stored is not None and stored.audience == "asker"
    card = final_card(posts, PERSONAL)
    assert card == answer_card(stored)
    assert "June 25" in card["body"][0]["text"]
    link = f"1. [payroll]({WEB}/api/v1/documents/{teams.ids['payroll']}/content)"
    assert card["body"][2]["text"] == link  # the numbered source, linking to the web UI's viewer
    assert card["body"][-1]["text"].startswith(("Grounded in the sources", "Weakly grounded"))
    assert [a["title"] for a in card["actions"]] == ["👍", "👎"]  # no share from a personal chat
    assert card["actions"][0]["data"] == {"sillok": "feedback", "message_id": stored.message_id, "rating": 1}
    last = [p for p in posts if p.conversation == PERSONAL][-1]
    assert teams.services.answerer.message_ref("teams", "a1") == last.activity_id

    # Thumbs down, as Action.Submit and as a universal action (invoke): stored like the web UI's;
    # Bob pressing Alice's button changes nothing.
    down = card["actions"][1]["data"]
    assert teams.send(teams.activity(PERSONAL, "personal", ALICE, "", "a2", value=down)) == 202
    teams.connector.rosters[PERSONAL].append(BOB)
    up = {**down, "rating": 1}
    invoke = teams.activity(PERSONAL, "personal", BOB, "", "a3", type="invoke", name="adaptiveCard/action")
    invoke["value"] = {"action": {"type": "Action.Execute", "data": up}}
    response = teams.client.post("/api/messages", json=invoke)
    assert response.status_code == 200 and response.json()["statusCode"] == 200
    assert len(teams.settled()) == len(posts)  # feedback posts nothing
    with teams.services.database.sessions() as session:
        ratings = [(f.username, f.rating) for f in session.scalars(select(Feedback))]
    assert ratings == [("alice", -1)]


def test_a_channel_with_a_member_who_may_not_read_gets_nothing_of_the_document(teams: Teams) -> None:
    mention = [
        {"type": "mention", "text": "<at>Sillok</at>", "mentioned": {"id": "28:" + APP_ID, "name": "Sillok"}}
    ]
    channel = MIXED + ";messageid=1700000000001"
    assert teams.send(teams.activity(channel, "channel", ALICE, SALARIES, "c1", entities=mention)) == 202
    posts = teams.settled()
    seen = " ".join(str(p.body) for p in posts)
    assert posts and all(p.conversation == channel for p in posts)  # in the reply chain
    for secret in ("June 25", "Salaries are paid", "payroll", teams.ids["payroll"]):
        assert secret not in seen
    stored = teams.services.answerer.stored("teams", "c1")
    assert stored is not None and stored.audience in ("channel", "public")
    assert final_card(posts, MIXED) == answer_card(stored)

    # A group chat is heard by its members the same way.
    assert teams.send(teams.activity(GROUP, "groupChat", ALICE, SALARIES, "g1", entities=mention)) == 202
    group = " ".join(str(p.body) for p in teams.settled() if p.conversation == GROUP)
    assert group and "June 25" not in group and teams.ids["payroll"] not in group

    # Where every member may read it, the same question is answered from it.
    assert teams.send(teams.activity(FINANCE, "channel", ALICE, SALARIES, "c2", entities=mention)) == 202
    assert "June 25" in final_card(teams.settled(), FINANCE)["body"][0]["text"]


def test_private_reply_in_the_personal_chat_and_sharing_rechecks_the_channel(teams: Teams) -> None:
    ask = teams.activity(MIXED, "channel", ALICE, "<at>Sillok</at> private when are salaries paid?", "p1")
    assert teams.send(ask) == 202
    posts = teams.settled()
    assert not [p for p in posts if p.conversation.startswith(MIXED)]  # nothing in the channel
    card = final_card(posts, "a:1to1-29:alice")
    assert "June 25" in card["body"][0]["text"]
    share = card["actions"][2]
    assert share["title"] == "Share in channel" and share["data"]["place"] == MIXED

    # Bob may not read payroll: sharing into the mixed channel is refused, nothing posted there.
    before = len(posts)
    press = teams.activity("a:1to1-29:alice", "personal", ALICE, "", "p2", value=share["data"])
    assert teams.send(press) == 202
    posts = teams.settled()
    assert not [p for p in posts if p.conversation.startswith(MIXED)]
    assert "can't share this answer here" in posts[before].body["text"]

    # Into the finance channel (Alice and Carol), it is posted, as the channel's answer.
    press = teams.activity(
        "a:1to1-29:alice", "personal", ALICE, "", "p3", value={**share["data"], "place": FINANCE}
    )
    assert teams.send(press) == 202
    shared = final_card(teams.settled(), FINANCE)
    assert "June 25" in shared["body"][0]["text"]
    assert [a["title"] for a in shared["actions"]] == ["👍", "👎"]


def test_a_retried_activity_is_answered_once(teams: Teams) -> None:
    question = teams.activity(PERSONAL, "personal", ALICE, "What does the canteen serve?", "r1")
    for _ in range(3):
        assert teams.send(question) == 202
    teams.settled()
    assert teams.send(question) == 202  # after the answer too
    posts = teams.settled()
    assert [p.method for p in posts].count("POST") == 1
    assert "bibimbap" in final_card(posts, PERSONAL)["body"][0]["text"]


def test_after_a_failed_post_the_retry_posts_the_stored_answer(teams: Teams) -> None:
    teams.connector.fail_posts = 1
    question = teams.activity(
        MIXED, "channel", ALICE, "<at>Sillok</at> private what does the canteen serve?", "f1"
    )
    assert teams.send(question) == 202
    assert teams.settled() == []  # the only post failed
    stored = teams.services.answerer.stored("teams", "f1")
    assert stored is not None
    assert teams.send(question) == 202  # Teams retries
    posts = teams.settled()
    assert len(posts) == 1 and final_card(posts, "a:1to1-29:alice") == answer_card(stored, share_to=MIXED)


def test_notices_unknown_user_and_shared_files(teams: Teams) -> None:
    assert teams.send(teams.activity("a:personal-stranger", "personal", STRANGER, "hello?", "n1")) == 202
    posts = teams.settled()
    assert [p.body["text"] for p in posts] == [UNKNOWN_USER]
    file = {
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "contentUrl": "https://contoso.sharepoint.com/x.docx",
        "name": "x.docx",
    }
    assert (
        teams.send(teams.activity(PERSONAL, "personal", ALICE, "read this", "n2", attachments=[file])) == 202
    )
    posts = teams.settled()
    assert posts[-1].body["text"] == UNSUPPORTED_ATTACHMENT and posts[-1].conversation == PERSONAL


def test_membership_changes_and_disallowed_service_urls(teams: Teams) -> None:
    update = teams.activity(
        MIXED, "channel", ALICE, "", "m1", type="conversationUpdate", membersAdded=[CAROL.json()]
    )
    assert teams.send(update) == 202
    elsewhere = teams.activity(PERSONAL, "personal", ALICE, "When are salaries paid?", "s1")
    elsewhere["serviceUrl"] = "https://attacker.example.net/"
    response = teams.client.post("/api/messages", json=elsewhere)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert teams.settled() == []
    assert teams.services.answerer.stored("teams", "s1") is None


def test_without_an_app_id_every_activity_is_refused(tmp_path: Path) -> None:
    with bot_connector() as connector:
        services = build_bots(settings(tmp_path, service_urls=[connector.url]))
        app = create_bots_app(services)
        app.include_router(teams_router(services))
        with TestClient(app) as client:
            body = {
                "type": "message",
                "id": "x",
                "serviceUrl": connector.url,
                "text": "hi",
                "from": {"id": "29:a"},
                "conversation": {"id": PERSONAL},
            }
            response = client.post("/api/messages", json=body)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert connector.posted == []
        services.close()


def test_strict_mode_refuses_a_wrong_audience_or_issuer(tmp_path: Path) -> None:
    with bot_connector() as connector:
        services = build_bots(
            settings(
                tmp_path,
                app_id=APP_ID,
                app_password="not-used-by-these-activities",
                tenant_id=TENANT,
                openid_metadata_url=f"{connector.url}openid/.well-known/openidconfiguration",
                service_urls=[connector.url],
            )
        )
        with TestClient(create_bots_app(services)) as client:  # mounted by the server with an app id
            body = {
                "type": "conversationUpdate",
                "id": "u1",
                "channelId": "msteams",
                "serviceUrl": connector.url,
                "from": {"id": "29:alice"},
                "conversation": {"id": MIXED, "conversationType": "channel"},
                "channelData": {"tenant": {"id": TENANT}},
                "membersRemoved": [{"id": "29:bob"}],
            }
            issuer = connector.issuer

            def status(token: str | None) -> int:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return client.post("/api/messages", json=body, headers=headers).status_code

            assert status(issuer.token(APP_ID, connector.url)) == 202
            assert status(None) == 401
            assert status(issuer.token("another-app", connector.url)) == 401
            assert status(issuer.token(APP_ID, connector.url, issuer="https://evil.example.com")) == 401
            assert status(issuer.token(APP_ID, connector.url, ttl_s=-3600)) == 401  # expired
            assert (
                status(issuer.token(APP_ID, "https://smba.trafficmanager.net/emea/")) == 401
            )  # other connector
            forged = issuer.token(APP_ID, connector.url)
            assert status(forged[:-4] + ("AAAA" if not forged.endswith("AAAA") else "BBBB")) == 401
        services.close()


def test_the_app_manifest_names_the_bot_in_every_scope(tmp_path: Path) -> None:
    manifest_path = Path(__file__).parents[2] / "deploy" / "teams" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (bot,) = manifest["bots"]
    assert bot["botId"] == "{{BOT_APP_ID}}" == manifest["webApplicationInfo"]["id"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert {c["title"] for c in bot["commandLists"][0]["commands"]} == {"ask", "private"}
    assert bot["supportsFiles"] is False  # shared files get the "upload in the web UI" notice
    # The package's icons are made as the deploy README shows, at the sizes Teams requires.
    from PIL import Image

    Image.new("RGB", (192, 192), "#1F4E79").save(tmp_path / manifest["icons"]["color"])
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(tmp_path / manifest["icons"]["outline"])
    package = tmp_path / "sillok-teams.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("manifest.json", manifest_path.read_text())
        for icon in manifest["icons"].values():
            archive.write(tmp_path / icon, icon)
    assert sorted(zipfile.ZipFile(package).namelist()) == ["color.png", "manifest.json", "outline.png"]
