"""ACL tokens: deny by default, and a principal reads exactly what its tokens admit."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.acl import PUBLIC, Acl, Principal, group_token, user_token
from core.errors import InvalidInput

pytestmark = pytest.mark.unit
names = st.sampled_from(["alice", "bob", "carol", "dave", "hr", "eng", "legal", "sales"])


def test_empty_acl_admits_nobody() -> None:
    assert Acl().tokens() == frozenset()
    assert not Principal("alice", frozenset({"hr"}), is_admin=True).can_read(Acl().tokens())


def test_tokens_are_prefixed_so_a_user_is_never_mistaken_for_a_group() -> None:
    acl = Acl.of(users=["hr"], groups=["alice"])
    assert acl.tokens() == {user_token("hr"), group_token("alice")}
    assert not Principal("alice").can_read(acl.tokens())
    assert not Principal("bob", frozenset({"hr"})).can_read(acl.tokens())


def test_public_admits_every_principal() -> None:
    assert Principal("anyone").can_read(Acl.of(public=True).tokens())
    assert PUBLIC in Principal("anyone").tokens()


def test_invalid_names_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Acl.of(users=["bad name"])
    with pytest.raises(InvalidInput):
        Acl.of(groups=["group:injected"])


@given(
    users=st.frozensets(names),
    groups=st.frozensets(names),
    public=st.booleans(),
    who=names,
    member_of=st.frozensets(names),
)
def test_can_read_matches_the_acl_definition(users, groups, public, who, member_of) -> None:
    acl = Acl(users, groups, public)
    expected = public or who in users or bool(member_of & groups)
    assert Principal(f"name-{who}", member_of, user_id=who).can_read(acl.tokens()) == expected
