"""ACLs from connector prefix rules: the longest matching prefix wins; no match admits nobody."""

from __future__ import annotations

from pathlib import PurePosixPath

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.acl import Acl
from core.settings import AclRule
from ingest.connectors.rules import acl_for, matches, normalise_prefix

pytestmark = pytest.mark.unit
BASE = PurePosixPath("/sillok-rules-test")  # does not exist, so resolving changes nothing


def file_uri(*parts: str) -> str:
    return BASE.joinpath(*parts).as_uri()


def test_plain_paths_and_file_uris_are_one_prefix() -> None:
    forms = [str(BASE / "hr"), f"{BASE}/hr/", f"file://{BASE}/hr", f"file://{BASE}/hr/", file_uri("hr")]
    assert {normalise_prefix(f) for f in forms} == {file_uri("hr")}


def test_non_ascii_paths_match_their_percent_encoded_sources() -> None:
    source = file_uri("인사팀", "급여 규정.hwp")
    assert acl_for(source, [AclRule(prefix=str(BASE / "인사팀"), groups=["hr"])]) == Acl.of(groups=["hr"])
    assert acl_for(source, [AclRule(prefix=file_uri("인사팀"), public=True)]).public


def test_a_prefix_matches_whole_path_segments_only() -> None:
    rules = [AclRule(prefix=str(BASE / "hr"), public=True)]
    assert acl_for(file_uri("hr", "pay.pdf"), rules).public
    assert acl_for(file_uri("hr"), rules).public
    assert acl_for(file_uri("hr-archive", "pay.pdf"), rules) == Acl()


def test_the_longest_prefix_wins_whatever_the_order() -> None:
    rules = [
        AclRule(prefix=str(BASE / "hr" / "public"), public=True),
        AclRule(prefix=str(BASE), groups=["staff"]),
        AclRule(prefix=file_uri("hr"), groups=["hr"]),
    ]
    assert acl_for(file_uri("hr", "public", "holidays.txt"), rules) == Acl.of(public=True)
    assert acl_for(file_uri("hr", "pay.txt"), rules) == Acl.of(groups=["hr"])
    assert acl_for(file_uri("it", "vpn.txt"), rules) == Acl.of(groups=["staff"])
    assert acl_for(file_uri("it", "vpn.txt"), list(reversed(rules))) == Acl.of(groups=["staff"])


def test_no_matching_rule_denies() -> None:
    assert acl_for(file_uri("x.txt"), []) == Acl()
    assert acl_for("http://wiki.example/page", [AclRule(prefix=str(BASE), public=True)]).tokens() == set()


def test_web_prefixes_are_compared_in_canonical_form() -> None:
    rules = [AclRule(prefix="HTTP://Wiki.Example/Team/", groups=["eng"])]
    assert acl_for("http://wiki.example/Team/page?id=3", rules) == Acl.of(groups=["eng"])
    assert acl_for("http://wiki.example/team/page", rules) == Acl()  # paths are case-sensitive
    host_rules = [AclRule(prefix="http://wiki", public=True)]
    assert acl_for("http://wiki/", host_rules).public
    assert acl_for("http://wiki.attacker.example/", host_rules) == Acl()
    assert acl_for("http://wiki:8080/", host_rules) == Acl()


def test_match_needs_a_boundary() -> None:
    assert matches("http://a/b?x=1", "http://a/b")
    assert matches("http://a/b#top", "http://a/b")
    assert not matches("http://a/bc", "http://a/b")
    assert not matches("anything", "")


segments = st.lists(st.sampled_from(["a", "b", "ab", "문서", "two words", "a.b"]), min_size=0, max_size=4)


def spell(parts: tuple[str, ...], form: int) -> str:
    """One of the ways a person may write the same folder prefix in a rule."""
    path = BASE.joinpath(*parts)
    return [str(path), f"{path}/", path.as_uri(), f"file://{path}"][form]


@given(
    rules=st.dictionaries(segments.map(tuple), st.integers(0, 3), max_size=6),
    source=segments.filter(bool).map(tuple),
)
def test_property_the_deepest_covering_rule_decides(
    rules: dict[tuple[str, ...], int], source: tuple[str, ...]
) -> None:
    configured = [
        AclRule(prefix=spell(parts, form), groups=[f"g{len(parts)}-{i}"])
        for i, (parts, form) in enumerate(rules.items())
    ]
    covering = [(len(parts), i) for i, parts in enumerate(rules) if source[: len(parts)] == parts]
    acl = acl_for(file_uri(*source), configured)
    if not covering:
        assert acl == Acl() and acl.tokens() == frozenset()
    else:
        depth, i = max(covering)
        assert acl == Acl.of(groups=[f"g{depth}-{i}"])


@given(
    rules=st.dictionaries(segments.map(tuple), st.booleans(), max_size=6),
    source=segments.map(tuple),
    host=st.sampled_from(["wiki", "wiki.example", "wiki.example:8080"]),
)
def test_property_web_rules_longest_prefix_or_nothing(
    rules: dict[tuple[str, ...], bool], source: tuple[str, ...], host: str
) -> None:
    configured = [
        AclRule(prefix="http://wiki.example/" + "/".join(parts) + ("/" if slash else ""), users=[f"u{i}"])
        for i, (parts, slash) in enumerate(rules.items())
    ]
    url = f"http://{host}/" + "/".join(source)
    covering = [(len(parts), i) for i, parts in enumerate(rules) if source[: len(parts)] == parts]
    acl = acl_for(str(httpx.URL(url)), configured)
    if host != "wiki.example" or not covering:
        assert acl == Acl()
    else:
        assert acl == Acl.of(users=[f"u{max(covering)[1]}"])
