"""Keyword terms and BM25-style sparse vectors: Korean particles and endings never split a term."""

import pytest

from core import lexical
from core.lexical import english_terms, passage_vector, query_vector, term_id, terms

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("word", ["노트북을", "노트북은", "노트북이", "노트북에서", "노트북만"])
def test_korean_particles_are_dropped(word: str) -> None:
    assert terms(word) == ["노트북"]


def test_korean_verbs_keep_their_stem_and_lose_their_endings() -> None:
    assert terms("노트북을 분실하면 언제까지 신고해야 하나요?") == ["노트북", "분실", "신고"]
    assert "먹" in terms("점심을 먹었다") and "먹" in terms("점심을 먹고")


def test_english_is_lowercased_stopped_and_stemmed() -> None:
    assert english_terms("The Running studies of the proteins") == ["run", "studi", "protein"]
    assert english_terms("It's Bob’s 2024 report") == ["bob", "2024", "report"]


def test_mixed_text_gives_korean_and_english_terms() -> None:
    found = terms("회사의 B2B e커머스 전략은 2024년에 Growth가 컸다")
    assert {"회사", "커머스", "전략", "b2b", "2024", "growth"} <= set(found)
    assert "의" not in found and "은" not in found


def test_text_without_hangul_never_reaches_the_morphological_analyser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail() -> None:
        raise AssertionError("Kiwi was called")

    monkeypatch.setattr(lexical, "kiwi", fail)
    assert terms("annual leave policy") == ["annual", "leav", "polici"]


def test_passage_weights_saturate_with_frequency_and_fall_with_length() -> None:
    one = passage_vector("leave")
    three = passage_vector("leave leave leave")
    long = passage_vector("leave " + " ".join(f"word{i}" for i in range(200)))
    weight = {
        name: dict(zip(v.indices, v.values, strict=True))[term_id("leav")]
        for name, v in [("one", one), ("three", three), ("long", long)]
    }
    assert weight["one"] < weight["three"] < (lexical.K1 + 1)
    assert weight["long"] < weight["one"]


def test_query_vectors_weigh_each_distinct_term_once() -> None:
    vector = query_vector("보안 보안 정책을")
    assert sorted(vector.indices) == sorted({term_id("보안"), term_id("정책")})
    assert set(vector.values) == {1.0}
    assert not query_vector("the of and")
