"""Local passwords: argon2id hashes in `users.password_hash`, renewed when the parameters change;
wrong passwords, users without one and unknown users all answer False after the same work."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.auth.passwords import MIN_LENGTH, PasswordStore
from core.db.engine import make_engine, migrate, session_factory
from core.db.models import User
from core.errors import InvalidInput, NotFound
from core.users import UserDirectory

pytestmark = pytest.mark.unit
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """Cheap parameters for tests; counts verifications."""

    def __init__(self, time_cost: int = 1) -> None:
        super().__init__(time_cost=time_cost, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sillok.db'}")
    migrate(engine)
    users = UserDirectory(session_factory(engine))
    users.add_user("hana", groups=["hr"])
    users.add_user("minsu")
    return session_factory(engine)


def stored_hash(sessions: sessionmaker[Session], username: str) -> str | None:
    with sessions() as session:
        return session.scalar(select(User.password_hash).where(User.username == username))


def test_set_and_check(sessions: sessionmaker[Session]) -> None:
    store = PasswordStore(sessions, CountingHasher())
    store.set_password("hana", PASSWORD)
    hashed = stored_hash(sessions, "hana")
    assert hashed is not None and hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert store.check("hana", PASSWORD)
    assert not store.check("hana", PASSWORD.upper())
    assert not store.check("hana", "")


def test_default_hasher_is_argon2id(sessions: sessionmaker[Session]) -> None:
    store = PasswordStore(sessions)
    store.set_password("hana", PASSWORD)
    assert (stored_hash(sessions, "hana") or "").startswith("$argon2id$v=19$")


def test_unknown_users_and_users_without_password_cost_one_verification(
    sessions: sessionmaker[Session],
) -> None:
    hasher = CountingHasher()
    store = PasswordStore(sessions, hasher)
    store.set_password("hana", PASSWORD)
    for username, password in [
        ("nobody", PASSWORD),
        ("minsu", PASSWORD),
        ("hana", "wrong password!"),
        ("hana", "x" * 5000),
    ]:
        before = hasher.verified
        assert not store.check(username, password)
        assert hasher.verified == before + 1, username


def test_short_passwords_and_unknown_users_are_refused(sessions: sessionmaker[Session]) -> None:
    store = PasswordStore(sessions, CountingHasher())
    with pytest.raises(InvalidInput):
        store.set_password("hana", "x" * (MIN_LENGTH - 1))
    with pytest.raises(InvalidInput):
        store.set_password("hana", "x" * 2000)
    with pytest.raises(NotFound):
        store.set_password("nobody", PASSWORD)
    assert stored_hash(sessions, "hana") is None


def test_outdated_parameters_are_renewed_on_login(sessions: sessionmaker[Session]) -> None:
    PasswordStore(sessions, CountingHasher(time_cost=1)).set_password("hana", PASSWORD)
    old = stored_hash(sessions, "hana")
    stronger = PasswordStore(sessions, CountingHasher(time_cost=2))
    assert not stronger.check("hana", "wrong password!")
    assert stored_hash(sessions, "hana") == old  # never on a failed check
    assert stronger.check("hana", PASSWORD)
    renewed = stored_hash(sessions, "hana")
    assert renewed != old and renewed is not None and "t=2" in renewed
    assert stronger.check("hana", PASSWORD)


def test_unicode_is_normalised_and_passwords_can_be_cleared(sessions: sessionmaker[Session]) -> None:
    store = PasswordStore(sessions, CountingHasher())
    composed, decomposed = "비밀번호는 길어야 합니다 é", "비밀번호는 길어야 합니다 e\u0301"
    store.set_password("minsu", composed)
    assert store.check("minsu", decomposed)
    store.clear_password("minsu")
    assert not store.check("minsu", composed)
    with pytest.raises(NotFound):
        store.clear_password("nobody")
