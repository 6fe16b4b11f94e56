"""The bots' core on the real stores and index: who asks, who hears, and exactly once.

The platform side (Slack, Teams) is played by a directory of accounts and rosters; everything
behind it is the product's: SQL bindings and deliveries, the ACL filter inside Qdrant Edge,
the extractive answer path, the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE
from core.settings import LimitSettings, Settings
from serving.bots.answering import BotAnswer, Notice
from serving.bots.bootstrap import BotServices, build_bots
from serving.bots.chat import ChatPlace, ChatUser, Question
from serving.worker.bootstrap import build_worker

DOCS = {
    "canteen": ("The canteen serves bibimbap every Tuesday at noon.", Acl.of(public=True)),
    "payroll": ("Salaries are paid on June 25. Payroll closes on June 20.", Acl.of(groups=["finance"])),
}
TEAM = "T01"


def user(uid: str) -> ChatUser:
    return ChatUser("slack", TEAM, uid)


def place(channel: str, kind: str = "channel") -> ChatPlace:
    return ChatPlace("slack", TEAM, channel, kind, "171.0001")  # type: ignore[arg-type]


@dataclass
class Directory:
    emails: dict[ChatUser, str]
    rosters: dict[str, list[ChatUser] | None] = field(default_factory=dict)
    roster_reads: int = 0

    def email_of(self, who: ChatUser) -> str | None:
        return self.emails.get(who)

    def members_of(self, where: ChatPlace, limit: int) -> list[ChatUser] | None:
        self.roster_reads += 1
        members = self.rosters[where.channel_id]
        return None if members is None or len(members) > limit else members


ALICE, BOB, CAROL, STRANGER = user("UALICE"), user("UBOB"), user("UCAROL"), user("USTRANGER")


@pytest.fixture
def bots(tmp_path: Path) -> Iterator[tuple[BotServices, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        bots={"web_url": "https://sillok.example.com"},
        embedding={"backend": "sentence-transformers"},
        log_level="WARNING",
    )
    services = build_bots(settings)
    worker = build_worker(shared=services)
    services.users.add_user("alice", email="Alice@Example.com", groups=["finance"])
    services.users.add_user("bob", email="bob@example.com")
    services.users.add_user("carol", email="carol@example.com", groups=["finance"])
    ids = {}
    for name, (text, acl) in DOCS.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        reg = services.intake.submit(
            path, namespace=CONNECTOR_NAMESPACE, source=f"t:{name}", acl=acl, title=name
        )
        worker.pipeline.process(reg.document_id, reg.version)
        ids[name] = reg.document_id
    yield services, ids
    worker.close()
    services.close()


def directory() -> Directory:
    return Directory(
        emails={ALICE: "alice@example.com", BOB: "bob@example.com", CAROL: "carol@example.com"},
        rosters={
            "CMIXED": [ALICE, BOB],
            "CFIN": [ALICE, CAROL],
            "CSTRANGER": [ALICE, CAROL, STRANGER],
            "CHUGE": None,
        },
    )


def ask(
    services: BotServices, who: ChatUser, where: ChatPlace, text: str, key: str, **kw: bool
) -> BotAnswer | Notice:
    return services.answerer.answer(Question(who, where, text, key, **kw), DIRECTORY)


DIRECTORY = directory()


def cited(outcome: BotAnswer | Notice) -> set[str]:
    assert isinstance(outcome, BotAnswer), outcome
    return {s.document_id for s in outcome.sources}


def test_a_direct_message_uses_the_askers_permissions(bots: tuple[BotServices, dict[str, str]]) -> None:
    services, ids = bots
    answer = ask(services, ALICE, place("DALICE", "direct"), "When are salaries paid?", "e1")
    assert isinstance(answer, BotAnswer)
    assert ids["payroll"] in cited(answer)
    assert answer.audience == "asker"
    source = next(s for s in answer.sources if s.document_id == ids["payroll"])
    assert source.url == f"https://sillok.example.com/api/v1/documents/{ids['payroll']}/content"


def test_a_channel_answer_draws_only_on_what_every_member_may_read(
    bots: tuple[BotServices, dict[str, str]],
) -> None:
    services, ids = bots
    mixed = ask(services, ALICE, place("CMIXED"), "When are salaries paid?", "e2")
    assert ids["payroll"] not in cited(mixed)
    assert isinstance(mixed, BotAnswer) and "June 25" not in mixed.text and mixed.audience == "channel"

    finance = ask(services, ALICE, place("CFIN"), "When are salaries paid?", "e3")
    assert ids["payroll"] in cited(finance)

    stranger = ask(services, ALICE, place("CSTRANGER"), "When are salaries paid?", "e4")
    assert ids["payroll"] not in cited(stranger)  # a member Sillok does not know reads public only

    huge = ask(services, ALICE, place("CHUGE"), "What does the canteen serve?", "e5")
    assert isinstance(huge, BotAnswer) and huge.audience == "public"
    assert cited(huge) <= {ids["canteen"]}

    private = ask(services, ALICE, place("CMIXED"), "When are salaries paid?", "e6", private=True)
    assert ids["payroll"] in cited(private)


def test_each_delivery_is_answered_once_and_its_answer_kept(bots: tuple[BotServices, dict[str, str]]) -> None:
    services, _ = bots
    first = ask(services, ALICE, place("DALICE", "direct"), "What does the canteen serve?", "Ev1")
    again = ask(services, ALICE, place("DALICE", "direct"), "What does the canteen serve?", "Ev1")
    assert isinstance(first, BotAnswer)
    assert again == Notice("duplicate", "", "")
    assert services.answerer.stored("slack", "Ev1") == first
    services.answerer.posted("slack", "Ev1", "DALICE:171.0002")
    assert services.answerer.message_ref("slack", "Ev1") == "DALICE:171.0002"


def test_unknown_and_removed_users_are_told_how_to_get_access(
    bots: tuple[BotServices, dict[str, str]],
) -> None:
    services, _ = bots
    unknown = ask(services, STRANGER, place("DSTRANGER", "direct"), "When are salaries paid?", "u1")
    assert isinstance(unknown, Notice) and unknown.kind == "unknown_user"
    assert isinstance(ask(services, BOB, place("DBOB", "direct"), "canteen?", "u2"), BotAnswer)
    services.users.remove_user("bob")
    removed = ask(services, BOB, place("DBOB", "direct"), "canteen?", "u3")
    assert isinstance(removed, Notice) and removed.kind == "unknown_user"
    services.users.add_user("bob", email="other@example.com")  # the name again, another person
    assert isinstance(ask(services, BOB, place("DBOB", "direct"), "canteen?", "u4"), Notice)


def test_sharing_a_private_answer_rechecks_the_channel(bots: tuple[BotServices, dict[str, str]]) -> None:
    services, ids = bots
    private = ask(services, ALICE, place("CMIXED"), "When are salaries paid?", "s1", private=True)
    assert isinstance(private, BotAnswer) and ids["payroll"] in cited(private)
    refused = services.answerer.share(ALICE, private.message_id, place("CMIXED"), DIRECTORY)
    assert isinstance(refused, Notice) and refused.kind == "share_refused"
    shared = services.answerer.share(ALICE, private.message_id, place("CFIN"), DIRECTORY)
    assert isinstance(shared, BotAnswer) and ids["payroll"] in cited(shared)
    assert shared.text == private.text
    stolen = services.answerer.share(BOB, private.message_id, place("CFIN"), DIRECTORY)
    assert isinstance(stolen, Notice) and stolen.kind == "share_refused"  # not Bob's to share


def test_rosters_are_cached_until_membership_changes(bots: tuple[BotServices, dict[str, str]]) -> None:
    services, ids = bots
    local = directory()
    where = place("CFIN")
    services.answerer.answer(Question(ALICE, where, "When are salaries paid?", "r1"), local)
    services.answerer.answer(Question(ALICE, where, "When are salaries paid?", "r2"), local)
    assert local.roster_reads == 1
    local.rosters["CFIN"] = [ALICE, CAROL, BOB]  # Bob joins
    services.answerer.forget_members(where)
    after = services.answerer.answer(Question(ALICE, where, "When are salaries paid?", "r3"), local)
    assert local.roster_reads == 2
    assert ids["payroll"] not in cited(after)


def test_a_failure_is_a_notice_with_a_correlation_id(bots: tuple[BotServices, dict[str, str]]) -> None:
    services, _ = bots

    class Broken(Directory):
        def members_of(self, where: ChatPlace, limit: int) -> list[ChatUser] | None:
            raise ConnectionError("platform API down")

    broken = Broken(emails={ALICE: "alice@example.com"})
    outcome = services.answerer.answer(Question(ALICE, place("CX"), "canteen?", "f1"), broken)
    assert isinstance(outcome, Notice) and outcome.kind == "failed"
    assert outcome.correlation_id and outcome.correlation_id in outcome.text
    assert (
        services.answerer.answer(Question(ALICE, place("CX"), "canteen?", "f1"), broken).kind == "duplicate"
    )


def test_feedback_is_stored_like_the_web_uis(bots: tuple[BotServices, dict[str, str]]) -> None:
    services, _ = bots
    answer = ask(services, ALICE, place("DALICE", "direct"), "What does the canteen serve?", "fb1")
    assert isinstance(answer, BotAnswer)
    services.answerer.feedback(ALICE, answer.message_id, 1, DIRECTORY)
    services.answerer.feedback(BOB, answer.message_id, -1, DIRECTORY)  # not Bob's answer: ignored
    alice = services.users.principal("alice")
    conversation = services.conversations.get(alice, answer.conversation_id)
    assert conversation.messages[0].id == answer.message_id
    from sqlalchemy import select

    from core.db.models import Feedback

    with services.database.sessions() as session:
        ratings = [(f.username, f.rating) for f in session.scalars(select(Feedback))]
    assert ratings == [("alice", 1)]
